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
use crate::plan::{NewPhase, NewPlan, SLACK_BYTES, TemplateVersion};
use crate::view::budget::{RESULT_BUDGET_BYTES, clip, clip_into, clip_object, clip_opt, fill, is_false, json_len};
use crate::view::{ITEM_TEXT_BYTES, Status, cursor};
use crate::{ErrorCode, Principal, Service, ServiceError};

/// How many variables a template summary lists, and the bytes they may take.
const SUMMARY_VARIABLES: usize = 30;
const SUMMARY_VARIABLE_BYTES: usize = 6_000;
/// How a preview bounds each phase: its first 50 tasks within 4,000 bytes.
const PREVIEW_TASKS: usize = 50;
const PREVIEW_TASK_BYTES: usize = 4_000;
/// Bytes of a preview's description and context.
const PREVIEW_TEXT_BYTES: usize = 4_000;
const PREVIEW_CONTEXT_BYTES: usize = 12_000;
/// How many guidelines a preview lists, and the bytes of each.
const PREVIEW_GUIDELINES: usize = 20;
/// Bytes of a name or short value in a template result.
const SHORT_BYTES: usize = 300;

fn bad_cursor() -> ServiceError {
    ServiceError::validation("cursor is invalid; pass the next_cursor of a previous page of the same list")
}

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

/// A declared variable (texts clipped past 300 bytes in listings).
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
    /// Declared variables, in order (the first 30 that fit; see `truncated`).
    pub variables: Vec<VariableView>,
    /// First 12 hex digits of the content hash.
    pub version: String,
    /// `builtin` or `user`.
    pub source: TemplateSource,
    /// Present and true when variables were left out or texts clipped (template_preview
    /// validates and names every missing variable).
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// Arguments of `template_list`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateListParams {
    /// Only this category.
    #[schemars(length(min = 1, max = 64))]
    pub category: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
}

/// Result of `template_list`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TemplateListView {
    /// Templates, by slug.
    pub templates: Vec<TemplateSummaryView>,
    /// How many match in all.
    pub total: u64,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
    /// True when more templates follow (`next_cursor`) or a summary was clipped.
    pub truncated: bool,
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
    /// From `next_cursor`.
    #[schemars(length(max = 1024))]
    pub cursor: Option<String>,
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
    /// Tasks (the first 50 that fit; `tasks_count` counts them all).
    pub tasks: Vec<PreviewTaskView>,
    /// Number of tasks.
    pub tasks_count: u32,
    /// Orders of the phases it depends on.
    pub dependencies: Vec<u32>,
    /// Present and true when tasks were left out or texts clipped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
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
    /// The plan's context object (`markdown` holds the generated context; a `$truncated`
    /// marker past 12,000 bytes).
    pub context: Map<String, Value>,
    /// Phases in order from the cursor, as many as fit the result.
    pub phases: Vec<PreviewPhaseView>,
    /// Number of phases.
    pub phases_count: u32,
    /// The value used for each variable (values clipped past 300 bytes).
    pub variables_applied: Map<String, Value>,
    /// Guidelines (the first 20, each clipped past 300 bytes).
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
    /// Pass as `cursor` (same template and variables) for the phases after this page; null
    /// when the last phase is shown.
    pub next_cursor: Option<String>,
    /// True when the preview does not hold the whole plan (more phases, tasks or clipped texts).
    pub truncated: bool,
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

/// The preview of `instance`, its phases from index `first` as many as fit the result; with
/// the cursor for the rest and whether anything was left out.
fn preview(loaded: &LoadedTemplate, instance: &Instance, first: usize) -> (PreviewView, Option<String>, bool) {
    let mut truncated = false;
    let guidelines: Vec<String> =
        instance.guidelines.iter().map(|g| clip_into(g, SHORT_BYTES, &mut truncated)).collect();
    let (guidelines, more_guidelines) = fill(guidelines, PREVIEW_GUIDELINES, PREVIEW_GUIDELINES * SHORT_BYTES);
    truncated |= more_guidelines;
    let mut view = PreviewView {
        slug: loaded.template.slug.clone(),
        name: instance.name.clone(),
        description: clip_opt(instance.description.as_deref(), PREVIEW_TEXT_BYTES, &mut truncated),
        category: loaded.template.category.clone(),
        context: clip_object(context(instance), PREVIEW_CONTEXT_BYTES, &mut truncated),
        phases: Vec::new(),
        phases_count: u32::try_from(instance.phases.len()).unwrap_or(u32::MAX),
        variables_applied: instance
            .variables_applied
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(clip_into(v, SHORT_BYTES, &mut truncated))))
            .collect(),
        guidelines,
        version: loaded.version().to_owned(),
    };
    let room = RESULT_BUDGET_BYTES.saturating_sub(json_len(&view) + SLACK_BYTES);
    let phases = instance.phases.iter().zip(1u32..).skip(first).map(|(p, order)| {
        let mut cut = false;
        let tasks: Vec<PreviewTaskView> = p
            .tasks
            .iter()
            .map(|t| PreviewTaskView {
                name: t.name.clone(),
                description: clip_opt(t.description.as_deref(), ITEM_TEXT_BYTES, &mut cut),
            })
            .collect();
        let (tasks, more) = fill(tasks, PREVIEW_TASKS, PREVIEW_TASK_BYTES);
        PreviewPhaseView {
            order,
            name: p.name.clone(),
            description: clip_opt(p.description.as_deref(), ITEM_TEXT_BYTES, &mut cut),
            tasks,
            tasks_count: u32::try_from(p.tasks.len()).unwrap_or(u32::MAX),
            dependencies: p
                .dependencies
                .iter()
                .filter_map(|d| match d {
                    PhaseRef::Order(o) => Some(*o),
                    PhaseRef::Name(_) => None,
                })
                .collect(),
            truncated: cut || more,
        }
    });
    let (phases, more) = fill(phases, usize::MAX, room);
    let next =
        if more { phases.last().map(|p| cursor::encode("preview_phases", &[&p.order.to_string()])) } else { None };
    truncated |= next.is_some() || phases.iter().any(|p| p.truncated);
    view.phases = phases;
    (view, next, truncated)
}

fn summary(t: &LoadedTemplate) -> TemplateSummaryView {
    let mut truncated = false;
    let variables: Vec<VariableView> = t
        .template
        .variables
        .iter()
        .map(|v| VariableView {
            name: v.name.clone(),
            description: clip_opt(v.description.as_deref(), SHORT_BYTES, &mut truncated),
            default: clip_opt(v.default.as_deref(), SHORT_BYTES, &mut truncated),
            required: v.required,
            example: clip_opt(v.examples.first().map(String::as_str), SHORT_BYTES, &mut truncated),
            allowed_values: {
                let values: Vec<String> = v.allowed_values.iter().map(|a| clip(a, SHORT_BYTES).0).collect();
                let (shown, more) = fill(values, 20, 2_000);
                truncated |= more || shown.iter().zip(&v.allowed_values).any(|(s, a)| s != a);
                shown
            },
        })
        .collect();
    let (variables, more) = fill(variables, SUMMARY_VARIABLES, SUMMARY_VARIABLE_BYTES);
    TemplateSummaryView {
        slug: t.template.slug.clone(),
        name: t.template.name.clone(),
        description: clip_opt(t.template.description.as_deref(), ITEM_TEXT_BYTES, &mut truncated),
        category: t.template.category.clone(),
        phases_count: u32::try_from(t.template.phases.len()).unwrap_or(u32::MAX),
        tasks_count: u32::try_from(t.template.phases.iter().map(|p| p.tasks.len()).sum::<usize>()).unwrap_or(u32::MAX),
        variables,
        version: t.version().to_owned(),
        source: t.source,
        truncated: truncated || more,
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
        let after = cursor::decode_opt::<1>("templates", params.cursor.as_deref())?.map(|[slug]| slug);
        let limit = params.limit.unwrap_or(100).clamp(1, 1000) as usize;
        let matching: Vec<&LoadedTemplate> = self
            .templates()
            .templates()
            .iter()
            .filter(|t| params.category.as_deref().is_none_or(|c| t.template.category == c))
            .collect();
        let total = matching.len() as u64;
        let page = matching.into_iter().filter(|t| after.as_deref().is_none_or(|a| t.template.slug.as_str() > a));
        let (templates, more) = fill(page.map(summary), limit, RESULT_BUDGET_BYTES - SLACK_BYTES);
        let next_cursor = if more { templates.last().map(|t| cursor::encode("templates", &[&t.slug])) } else { None };
        let truncated = next_cursor.is_some() || templates.iter().any(|t| t.truncated);
        Ok(TemplateListView { templates, total, next_cursor, truncated })
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
        let first = cursor::decode_opt::<1>("preview_phases", params.cursor.as_deref())?
            .map(|[order]| cursor::parse_number(&order).and_then(|o| usize::try_from(o).map_err(|_| bad_cursor())))
            .transpose()?
            .unwrap_or(0);
        let (loaded, instance) = self.instantiate(&params.template, params.variables.as_ref())?;
        let instance = instance.map_err(|problems| variable_problems(&problems, ""))?;
        let (preview, next_cursor, truncated) = preview(loaded, &instance, first);
        Ok(TemplatePreviewView { template: loaded.template.slug.clone(), preview, next_cursor, truncated })
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
