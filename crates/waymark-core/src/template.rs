//! Template use cases: `template_list`, `template_preview`, `template_create_plan`
//! (seed-000 §2.7 and §4.8, with AGENT-TOOLS.md: previews validate, `title` and `activate`
//! are accepted, no file paths are shown, each plan records the template's content hash).
//!
//! The library holds the built-in templates (compiled into the binary) and the user's
//! templates directory (`--templates-dir`); a user template with a built-in's slug replaces it.
//! A file that fails to parse is reported with its line and skipped; it never stops the server.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use waymark_domain::template::{self, Instance, NAMING_CONVENTION, Node, Template, VariableProblem, VariableValue};
use waymark_domain::{JsonText, PhaseRef, PlanStatus};

use crate::clock::iso;
use crate::plan::{NewPhase, NewPlan, TemplateVersion};
use crate::view::Status;
use crate::{ErrorCode, Principal, Service, ServiceError};

/// The templates that ship in the binary (AGENT-TOOLS.md, "Templates").
const BUILTIN: &[(&str, &str)] = &[
    ("bug-fix", include_str!("../templates/bug-fix.yaml")),
    ("documentation", include_str!("../templates/documentation.yaml")),
    ("feature-development", include_str!("../templates/feature-development.yaml")),
    ("incident-response", include_str!("../templates/incident-response.yaml")),
    ("refactor", include_str!("../templates/refactor.yaml")),
    ("release", include_str!("../templates/release.yaml")),
    ("security-audit", include_str!("../templates/security-audit.yaml")),
];

/// Where a template came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSource {
    /// Compiled into the binary.
    Builtin,
    /// The user's templates directory.
    User,
}

/// A template ready to use.
#[derive(Clone, Debug)]
pub struct LoadedTemplate {
    /// The parsed template.
    pub template: Template,
    /// Its YAML source.
    pub content: String,
    /// Lowercase hex SHA-256 of the source.
    pub hash: String,
    /// Built-in or user.
    pub source: TemplateSource,
}

impl LoadedTemplate {
    /// The version shown to users: the first 12 hex digits of the content hash.
    pub fn version(&self) -> &str {
        &self.hash[..12]
    }
}

/// A template file that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateProblem {
    /// The file (or `builtin:slug`).
    pub file: String,
    /// What is wrong, with line and column when known.
    pub error: template::ParseError,
}

impl std::fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.error)
    }
}

/// Every template the service offers, by slug.
#[derive(Clone, Debug, Default)]
pub struct TemplateLibrary {
    templates: Vec<LoadedTemplate>,
    problems: Vec<TemplateProblem>,
}

fn hash(content: &str) -> String {
    Sha256::digest(content.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl TemplateLibrary {
    /// The built-in templates, plus every `*.yaml` / `*.yml` file of `user_dir`.
    pub fn load(user_dir: Option<&Path>) -> Self {
        let mut library = Self::default();
        for (slug, content) in BUILTIN {
            library.add(slug, content, TemplateSource::Builtin, &format!("builtin:{slug}"));
        }
        if let Some(dir) = user_dir {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) => {
                    library.problems.push(TemplateProblem {
                        file: dir.display().to_string(),
                        error: template::ParseError {
                            line: None,
                            column: None,
                            message: format!("cannot read the templates directory: {e}"),
                        },
                    });
                    return library;
                }
            };
            let mut paths: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            paths.sort();
            for path in paths {
                let Some(slug) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else { continue };
                match std::fs::read_to_string(&path) {
                    Ok(content) => library.add(&slug, &content, TemplateSource::User, &path.display().to_string()),
                    Err(e) => library.problems.push(TemplateProblem {
                        file: path.display().to_string(),
                        error: template::ParseError { line: None, column: None, message: format!("cannot read: {e}") },
                    }),
                }
            }
        }
        library.templates.sort_by(|a, b| a.template.slug.cmp(&b.template.slug));
        library
    }

    fn add(&mut self, slug: &str, content: &str, source: TemplateSource, file: &str) {
        match template::parse(slug, content) {
            Ok(template) => {
                self.templates.retain(|t| t.template.slug != slug);
                self.templates.push(LoadedTemplate {
                    template,
                    content: content.to_owned(),
                    hash: hash(content),
                    source,
                });
            }
            Err(error) => self.problems.push(TemplateProblem { file: file.to_owned(), error }),
        }
    }

    /// The template with this slug.
    pub fn get(&self, slug: &str) -> Option<&LoadedTemplate> {
        self.templates.iter().find(|t| t.template.slug == slug)
    }

    /// Every template, by slug.
    pub fn templates(&self) -> &[LoadedTemplate] {
        &self.templates
    }

    /// Files that could not be used.
    pub fn problems(&self) -> &[TemplateProblem] {
        &self.problems
    }
}

/// Parses one template file the way the server would (`waymark template validate FILE`).
///
/// # Errors
/// The [`TemplateProblem`], with line and column when known.
pub fn lint(path: &Path) -> Result<LoadedTemplate, TemplateProblem> {
    let file = path.display().to_string();
    let content = std::fs::read_to_string(path).map_err(|e| TemplateProblem {
        file: file.clone(),
        error: template::ParseError { line: None, column: None, message: format!("cannot read: {e}") },
    })?;
    let slug = path.file_stem().and_then(|s| s.to_str()).unwrap_or("template");
    let template = template::parse(slug, &content).map_err(|error| TemplateProblem { file, error })?;
    Ok(LoadedTemplate { template, hash: hash(&content), content, source: TemplateSource::User })
}

// ---- views ------------------------------------------------------------------------------

/// A declared variable.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct VariableView {
    /// snake_case name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Used when no value is given.
    pub default: Option<String>,
    /// Whether a value is needed (true unless a default exists or it is declared optional).
    pub required: bool,
    /// An example value.
    pub example: Option<String>,
    /// The only values accepted, when not empty.
    pub allowed_values: Vec<String>,
}

/// A template in a listing (never a file path).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TemplateSummaryView {
    /// Pass as `template` to template_preview and template_create_plan.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Grouping.
    pub category: String,
    /// Number of phases.
    pub phases_count: u32,
    /// Number of tasks.
    pub tasks_count: u32,
    /// Declared variables, in order.
    pub variables: Vec<VariableView>,
    /// First 12 hex digits of the content hash.
    pub version: String,
    /// `builtin` or `user`.
    pub source: TemplateSource,
}

/// Arguments of `template_list`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateListParams {
    /// Only this category.
    #[schemars(length(min = 1, max = 64))]
    pub category: Option<String>,
}

/// Result of `template_list`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TemplateListView {
    /// Templates, by slug.
    pub templates: Vec<TemplateSummaryView>,
    /// How many.
    pub total: u64,
}

/// Arguments of `template_preview`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePreviewParams {
    /// The template's slug (from template_list).
    #[schemars(length(min = 1, max = 255))]
    pub template: String,
    /// Variable values by name (scalars).
    pub variables: Option<Map<String, Value>>,
}

/// A task in a preview.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PreviewTaskView {
    /// What to do.
    pub name: String,
    /// Detail.
    pub description: Option<String>,
}

/// A phase in a preview.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PreviewPhaseView {
    /// 1-based order.
    pub order: u32,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Tasks.
    pub tasks: Vec<PreviewTaskView>,
    /// Orders of the phases it depends on.
    pub dependencies: Vec<u32>,
}

/// The plan a template would create.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PreviewView {
    /// Template slug.
    pub slug: String,
    /// The plan's default title.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Category.
    pub category: String,
    /// The plan's context object (`markdown` holds the generated context).
    pub context: Map<String, Value>,
    /// Phases.
    pub phases: Vec<PreviewPhaseView>,
    /// The value used for each variable.
    pub variables_applied: Map<String, Value>,
    /// Guidelines.
    pub guidelines: Vec<String>,
    /// Template version.
    pub version: String,
}

/// Result of `template_preview`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TemplatePreviewView {
    /// The template's slug.
    pub template: String,
    /// What the plan would look like.
    pub preview: PreviewView,
}

/// Arguments of `template_create_plan`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateCreatePlanParams {
    /// The template's slug (from template_list).
    #[schemars(length(min = 1, max = 255))]
    pub template: String,
    /// Variable values by name (scalars).
    pub variables: Option<Map<String, Value>>,
    /// The plan's slug (generated from the title when absent).
    #[schemars(length(min = 1, max = 255), pattern(r"^[a-z0-9-]+$"))]
    pub slug: Option<String>,
    /// The plan's title (the template's name when absent).
    #[schemars(length(min = 1, max = 255))]
    pub title: Option<String>,
    /// Create the plan active instead of draft.
    pub activate: Option<bool>,
}

/// The plan created from a template.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TemplatePlanView {
    /// Its slug.
    pub slug: String,
    /// Title.
    pub title: String,
    /// `draft`, or `active` with `activate: true`.
    pub status: Status<PlanStatus>,
    /// Number of phases.
    pub phases: u32,
    /// Number of tasks.
    pub total_tasks: u32,
}

/// Operator commands for the new plan.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TemplateCommandsView {
    /// Show the plan.
    pub view: String,
    /// Publish (activate) the plan.
    pub activate: String,
}

/// Result of `template_create_plan`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TemplateCreatePlanView {
    /// The new plan.
    pub plan: TemplatePlanView,
    /// The template and the version used.
    pub template: TemplateUsedView,
    /// CLI commands for the plan.
    pub commands: TemplateCommandsView,
}

/// A template as used for one plan.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TemplateUsedView {
    /// Slug.
    pub slug: String,
    /// First 12 hex digits of the content hash.
    pub version: String,
}

// ---- conversions ------------------------------------------------------------------------

/// A parsed tree as JSON.
pub(crate) fn to_json(node: &Node) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => json!(i),
        Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Node::String(s) => Value::String(s.clone()),
        Node::List(items) => Value::Array(items.iter().map(to_json).collect()),
        Node::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

fn supplied(variables: Option<&Map<String, Value>>) -> Vec<(String, VariableValue)> {
    variables
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let value = match v {
                Value::Null => VariableValue::Null,
                Value::String(s) => VariableValue::Text(s.clone()),
                Value::Bool(b) => VariableValue::Text(b.to_string()),
                Value::Number(n) => VariableValue::Text(n.to_string()),
                Value::Array(_) | Value::Object(_) => VariableValue::NonScalar,
            };
            (k.clone(), value)
        })
        .collect()
}

/// The plan context: the template's (a string becomes `markdown`), else the generated one.
fn context(instance: &Instance) -> Map<String, Value> {
    match instance.context.as_ref().map(to_json) {
        Some(Value::Object(map)) => map,
        Some(Value::String(markdown)) => [("markdown".to_owned(), Value::String(markdown))].into_iter().collect(),
        Some(Value::Null) | None => {
            [("markdown".to_owned(), Value::String(instance.generated_context()))].into_iter().collect()
        }
        Some(other) => [("value".to_owned(), other)].into_iter().collect(),
    }
}

fn preview(loaded: &LoadedTemplate, instance: &Instance) -> PreviewView {
    PreviewView {
        slug: loaded.template.slug.clone(),
        name: instance.name.clone(),
        description: instance.description.clone(),
        category: loaded.template.category.clone(),
        context: context(instance),
        phases: instance
            .phases
            .iter()
            .zip(1u32..)
            .map(|(p, order)| PreviewPhaseView {
                order,
                name: p.name.clone(),
                description: p.description.clone(),
                tasks: p
                    .tasks
                    .iter()
                    .map(|t| PreviewTaskView { name: t.name.clone(), description: t.description.clone() })
                    .collect(),
                dependencies: p
                    .dependencies
                    .iter()
                    .filter_map(|d| match d {
                        PhaseRef::Order(o) => Some(*o),
                        PhaseRef::Name(_) => None,
                    })
                    .collect(),
            })
            .collect(),
        variables_applied: instance
            .variables_applied
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
        guidelines: instance.guidelines.clone(),
        version: loaded.version().to_owned(),
    }
}

fn summary(t: &LoadedTemplate) -> TemplateSummaryView {
    TemplateSummaryView {
        slug: t.template.slug.clone(),
        name: t.template.name.clone(),
        description: t.template.description.clone(),
        category: t.template.category.clone(),
        phases_count: u32::try_from(t.template.phases.len()).unwrap_or(u32::MAX),
        tasks_count: u32::try_from(t.template.phases.iter().map(|p| p.tasks.len()).sum::<usize>()).unwrap_or(u32::MAX),
        variables: t
            .template
            .variables
            .iter()
            .map(|v| VariableView {
                name: v.name.clone(),
                description: v.description.clone(),
                default: v.default.clone(),
                required: v.required,
                example: v.examples.first().cloned(),
                allowed_values: v.allowed_values.clone(),
            })
            .collect(),
        version: t.version().to_owned(),
        source: t.source,
    }
}

/// `validation_error` for variable problems: the messages joined by "; " after `prefix`, and
/// `details.violations` (`path` is `variables.<name>`, or `variables` for the whole set) with
/// the original's `naming_convention`.
fn variable_problems(problems: &[VariableProblem], prefix: &str) -> ServiceError {
    let joined = problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ");
    let violations: Vec<Value> = problems
        .iter()
        .map(|p| {
            let path = if p.variable.is_empty() { "variables".to_owned() } else { format!("variables.{}", p.variable) };
            json!({ "path": path, "message": p.message })
        })
        .collect();
    ServiceError::new(ErrorCode::ValidationError, format!("{prefix}{joined}"))
        .with_details(json!({ "violations": violations, "naming_convention": NAMING_CONVENTION }))
}

fn template_not_found(slug: &str) -> ServiceError {
    ServiceError::not_found(format!("Template not found: {slug}"))
}

impl Service {
    /// The template library.
    pub fn templates(&self) -> &TemplateLibrary {
        &self.inner.templates
    }

    /// Resolves the variables and renders the template. A rendered plan larger than
    /// [`template::MAX_RENDERED_BYTES`] is a problem of the variables like any other.
    fn instantiate(
        &self,
        slug: &str,
        variables: Option<&Map<String, Value>>,
    ) -> Result<(&LoadedTemplate, Result<Instance, Vec<VariableProblem>>), ServiceError> {
        let loaded = self.templates().get(slug).ok_or_else(|| template_not_found(slug))?;
        let instance = loaded.template.resolve(&supplied(variables)).and_then(|resolved| {
            let instance = loaded.template.instantiate(&resolved);
            let bytes = instance.rendered_bytes();
            if bytes > template::MAX_RENDERED_BYTES {
                return Err(vec![VariableProblem {
                    variable: String::new(),
                    message: format!(
                        "The plan rendered from these variables would hold {bytes} bytes of text, more than the {} allowed; shorten the variables",
                        template::MAX_RENDERED_BYTES
                    ),
                }]);
            }
            Ok(instance)
        });
        Ok((loaded, instance))
    }

    /// `template_list`: every template (never a file path), optionally of one category.
    ///
    /// # Errors
    /// None in practice; the signature matches the other tools.
    pub async fn template_list(
        &self,
        _principal: &Principal,
        params: TemplateListParams,
    ) -> Result<TemplateListView, ServiceError> {
        let templates: Vec<TemplateSummaryView> = self
            .templates()
            .templates()
            .iter()
            .filter(|t| params.category.as_deref().is_none_or(|c| t.template.category == c))
            .map(summary)
            .collect();
        Ok(TemplateListView { total: templates.len() as u64, templates })
    }

    /// `template_preview`: the plan a template would create with these variables (validated).
    ///
    /// # Errors
    /// `not_found` ("Template not found: {slug}"), `validation_error` listing every variable
    /// problem in the original's wording, with `naming_convention`.
    pub async fn template_preview(
        &self,
        _principal: &Principal,
        params: TemplatePreviewParams,
    ) -> Result<TemplatePreviewView, ServiceError> {
        let (loaded, instance) = self.instantiate(&params.template, params.variables.as_ref())?;
        let instance = instance.map_err(|problems| variable_problems(&problems, ""))?;
        Ok(TemplatePreviewView { template: loaded.template.slug.clone(), preview: preview(loaded, &instance) })
    }

    /// `template_create_plan`: creates a plan from a template (draft, or active with
    /// `activate`), recording the template version in the plan's metadata.
    ///
    /// # Errors
    /// `not_found`, `validation_error` ("Failed to create plan from template: …"), `conflict`.
    pub async fn template_create_plan(
        &self,
        principal: &Principal,
        params: TemplateCreatePlanParams,
    ) -> Result<TemplateCreatePlanView, ServiceError> {
        let (loaded, instance) = self.instantiate(&params.template, params.variables.as_ref())?;
        let instance =
            instance.map_err(|problems| variable_problems(&problems, "Failed to create plan from template: "))?;
        let resolved = &instance.variables_applied;
        let mut metadata: Map<String, Value> =
            loaded.template.metadata_with(resolved).iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
        metadata.insert("source".into(), json!("template"));
        metadata.insert("template_slug".into(), json!(loaded.template.slug));
        metadata.insert("template_name".into(), json!(instance.name));
        metadata.insert("template_version".into(), json!(loaded.version()));
        metadata
            .insert("variables".into(), Value::Object(resolved.iter().map(|(k, v)| (k.clone(), json!(v))).collect()));
        metadata.insert("created_at".into(), json!(iso(self.now())));
        let status = if params.activate.unwrap_or(false) { PlanStatus::Active } else { PlanStatus::Draft };
        let created = self
            .create_plan(
                principal,
                NewPlan {
                    title: params.title.unwrap_or_else(|| instance.name.clone()),
                    slug: params.slug,
                    description: instance.description.clone(),
                    context: JsonText::from_trusted(Value::Object(context(&instance)).to_string()),
                    metadata: JsonText::from_trusted(Value::Object(metadata).to_string()),
                    status,
                    phases: instance
                        .phases
                        .iter()
                        .map(|p| NewPhase {
                            name: p.name.clone(),
                            description: p.description.clone(),
                            tasks: p.tasks.iter().map(|t| (t.name.clone(), t.description.clone())).collect(),
                            dependencies: p.dependencies.clone(),
                        })
                        .collect(),
                    template: Some(TemplateVersion {
                        hash: loaded.hash.clone(),
                        slug: loaded.template.slug.clone(),
                        name: loaded.template.name.clone(),
                        content: loaded.content.clone(),
                    }),
                },
            )
            .await?;
        let slug = created.slug.to_string();
        let workspace = &principal.workspace;
        Ok(TemplateCreatePlanView {
            plan: TemplatePlanView {
                slug: slug.clone(),
                title: created.title,
                status: Status(created.status),
                phases: created.phases,
                total_tasks: created.tasks,
            },
            template: TemplateUsedView { slug: loaded.template.slug.clone(), version: loaded.version().to_owned() },
            commands: TemplateCommandsView {
                view: format!("waymark plan show {slug} --workspace {workspace}"),
                activate: format!(
                    "waymark tool call plan_publish --workspace {workspace} --args '{{\"slug\":\"{slug}\"}}'"
                ),
            },
        })
    }
}
