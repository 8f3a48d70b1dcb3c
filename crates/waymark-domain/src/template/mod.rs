//! Plan templates (seed-000 §4.8): a YAML document with variables, guidelines and phases,
//! parsed with line numbers, validated with the original's exact messages, and substituted on
//! the parsed tree (never on serialized text).
//!
//! Format:
//!
//! ```yaml
//! name: Bug fix                     # required
//! description: Reproduce, fix, verify and release a fix.
//! category: engineering            # default "general"
//! context: …                       # optional; a string becomes context.markdown
//! guidelines: [Write the failing test first]
//! metadata: {owner: platform}
//! variables:
//!   issue_id:                       # snake_case names
//!     description: Tracker id
//!     required: true                # default: true unless a default is given
//!     default: ~
//!     example: BUG-123              # or examples: [...]
//!     format: PROJECT-NUMBER        # free text shown when missing
//!     allowed_values: [a, b]        # or enum: [...]
//!     pattern: '^[A-Z]+-[0-9]+$'    # regex, searched in the value
//!     charset: path_segment         # alpha | alnum | slug | snake_case | path_segment | printable
//! phases:                           # required, at least one
//!   - name: Reproduce {{ issue_id }}
//!     description: …
//!     tasks: [Write a failing test, {name: Bisect, description: …}]
//!     dependencies: [1]             # earlier phases by order or name
//! ```
//!
//! Placeholders are `{{ name }}` (spaces optional) anywhere in a string value.

mod node;

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

pub use node::Node;

use crate::PhaseRef;

/// The note every variable error carries (the original's `naming_convention`).
pub const NAMING_CONVENTION: &str = "Variable names use snake_case (e.g. project_name, api_key)";

/// A template that failed to parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "line {line}, column {column}: {}", self.message),
            (Some(line), None) => write!(f, "line {line}: {}", self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ParseError {}

fn semantic(message: impl Into<String>) -> ParseError {
    ParseError { line: None, column: None, message: message.into() }
}

/// The character sets a variable may be restricted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// ASCII letters.
    Alpha,
    /// ASCII letters and digits.
    Alnum,
    /// Lowercase letters, digits and `-`.
    Slug,
    /// Lowercase letters, digits and `_`.
    SnakeCase,
    /// Letters, digits, `.`, `_` and `-`.
    PathSegment,
    /// Anything without control characters.
    Printable,
}

impl Charset {
    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "alpha" => Self::Alpha,
            "alnum" => Self::Alnum,
            "slug" => Self::Slug,
            "snake_case" => Self::SnakeCase,
            "path_segment" => Self::PathSegment,
            "printable" => Self::Printable,
            _ => return None,
        })
    }

    fn allows(self, value: &str) -> bool {
        match self {
            Self::Alpha => value.bytes().all(|b| b.is_ascii_alphabetic()),
            Self::Alnum => value.bytes().all(|b| b.is_ascii_alphanumeric()),
            Self::Slug => value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            Self::SnakeCase => value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            Self::PathSegment => value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
            Self::Printable => !value.chars().any(char::is_control),
        }
    }
}

/// A declared variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    /// snake_case name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Used when the caller gives no value.
    pub default: Option<String>,
    /// Whether a value (or default) is needed.
    pub required: bool,
    /// Example values.
    pub examples: Vec<String>,
    /// Expected format, free text.
    pub format: Option<String>,
    /// The only values accepted, when not empty.
    pub allowed_values: Vec<String>,
    /// A regular expression the value must match (searched).
    pub pattern: Option<String>,
    /// The declared character set, as written (an unknown one is reported at validation).
    pub charset: Option<String>,
}

/// A task of a template phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateTask {
    /// What to do.
    pub name: String,
    /// Detail.
    pub description: Option<String>,
}

/// A phase of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplatePhase {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Tasks in order.
    pub tasks: Vec<TemplateTask>,
    /// Earlier phases this one depends on.
    pub dependencies: Vec<PhaseRef>,
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    /// The file name without extension.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Grouping (`general` by default).
    pub category: String,
    /// Literal context (a map, or a string used as markdown).
    pub context: Option<Node>,
    /// Rules for whoever follows the plan.
    pub guidelines: Vec<String>,
    /// Extra metadata copied into each plan.
    pub metadata: Vec<(String, Node)>,
    /// Declared variables, in document order.
    pub variables: Vec<Variable>,
    /// Phases in order.
    pub phases: Vec<TemplatePhase>,
}

/// A variable value as supplied by a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VariableValue {
    /// JSON `null`.
    Null,
    /// A scalar, as text (`"42"`, `"true"`, a string).
    Text(String),
    /// An array or an object.
    NonScalar,
}

/// A template with its variables applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The template's name, substituted.
    pub name: String,
    /// Description, substituted.
    pub description: Option<String>,
    /// Literal context, substituted.
    pub context: Option<Node>,
    /// Guidelines, substituted.
    pub guidelines: Vec<String>,
    /// Phases, substituted.
    pub phases: Vec<TemplatePhase>,
    /// The value used for each declared variable, in declaration order.
    pub variables_applied: Vec<(String, String)>,
}

/// The most bytes one variable's value may hold.
pub const MAX_VARIABLE_BYTES: usize = 4096;

/// The most bytes of text a rendered template may hold (names, descriptions, guidelines,
/// context), so that no choice of variables makes a plan larger than a document may be.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;

/// A problem with one variable, in the original's wording ("Required variable 'x' is
/// missing", "Variable 'x' must be one of: a, b").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariableProblem {
    /// The variable's name.
    pub variable: String,
    /// What is wrong, as a sentence naming the variable.
    pub message: String,
}

impl fmt::Display for VariableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Instance {
    /// Bytes of text the rendered plan holds (compare with [`MAX_RENDERED_BYTES`]).
    pub fn rendered_bytes(&self) -> usize {
        fn node(n: &Node) -> usize {
            match n {
                Node::String(s) => s.len(),
                Node::List(items) => items.iter().map(node).sum(),
                Node::Map(entries) => entries.iter().map(|(k, v)| k.len() + node(v)).sum(),
                Node::Null | Node::Bool(_) | Node::Int(_) | Node::Float(_) => 8,
            }
        }
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        self.name.len()
            + opt(&self.description)
            + self.context.as_ref().map_or(0, node)
            + self.guidelines.iter().map(String::len).sum::<usize>()
            + self
                .phases
                .iter()
                .map(|p| {
                    p.name.len()
                        + opt(&p.description)
                        + p.tasks.iter().map(|t| t.name.len() + opt(&t.description)).sum::<usize>()
                })
                .sum::<usize>()
    }
}

// ---- parsing ----------------------------------------------------------------------------

/// A YAML mapping read in document order.
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    out.push((key, map.next_value()?));
                }
                Ok(Ordered(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Ordered<T>, E> {
                Ok(Ordered(Vec::new()))
            }
        }
        deserializer.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    context: Option<Node>,
    #[serde(default)]
    guidelines: Option<Vec<String>>,
    #[serde(default)]
    metadata: Option<Ordered<Node>>,
    #[serde(default)]
    variables: Option<Ordered<Option<RawVariable>>>,
    phases: Vec<RawPhase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    default: Option<Node>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    example: Option<Node>,
    #[serde(default)]
    examples: Option<Vec<Node>>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    allowed_values: Option<Vec<Node>>,
    #[serde(default, rename = "enum")]
    enum_values: Option<Vec<Node>>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    charset: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tasks: Vec<Node>,
    #[serde(default)]
    dependencies: Vec<Node>,
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for compatibility with the original's format")]
    metadata: Option<Node>,
}

fn is_snake_case(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Parses a template's YAML source. `slug` is the file name without extension.
///
/// # Errors
/// [`ParseError`] with line and column for YAML and shape errors, without them for rules
/// checked after parsing (a missing phase, an unknown placeholder, a bad dependency).
pub fn parse(slug: &str, source: &str) -> Result<Template, ParseError> {
    let raw: RawTemplate = serde_saphyr::from_str(source).map_err(|e| {
        let location = e.location();
        ParseError {
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            message: yaml_message(&e.to_string()),
        }
    })?;
    let name = raw.name.trim().to_owned();
    if name.is_empty() {
        return Err(semantic("name must not be empty"));
    }
    if raw.phases.is_empty() {
        return Err(semantic("phases: a template needs at least one phase"));
    }
    let mut variables = Vec::new();
    for (var_name, raw_var) in raw.variables.map(|o| o.0).unwrap_or_default() {
        if !is_snake_case(&var_name) {
            return Err(semantic(format!("variables.{var_name}: {NAMING_CONVENTION}")));
        }
        variables.push(variable(&var_name, raw_var)?);
    }
    let mut phases: Vec<TemplatePhase> = Vec::with_capacity(raw.phases.len());
    for (index, raw_phase) in raw.phases.into_iter().enumerate() {
        let order = index + 1;
        if raw_phase.name.trim().is_empty() {
            return Err(semantic(format!("phases[{index}].name must not be empty")));
        }
        let name = raw_phase.name.trim().to_owned();
        if let Some(same) = phases.iter().position(|p| p.name.to_lowercase() == name.to_lowercase()) {
            return Err(semantic(format!("phases[{index}].name '{name}' repeats the name of phase {}", same + 1)));
        }
        let mut tasks = Vec::with_capacity(raw_phase.tasks.len());
        for (t, task) in raw_phase.tasks.iter().enumerate() {
            tasks.push(
                template_task(task).map_err(|problem| semantic(format!("phases[{index}].tasks[{t}]: {problem}")))?,
            );
        }
        let mut dependencies = Vec::with_capacity(raw_phase.dependencies.len());
        for dep in &raw_phase.dependencies {
            // Names are resolved to orders here, before any substitution can change them.
            let earlier = match dep {
                Node::Int(n) => usize::try_from(*n).ok().filter(|o| (1..order).contains(o)),
                Node::String(s) => match PhaseRef::parse(s) {
                    PhaseRef::Order(o) => usize::try_from(o).ok().filter(|o| (1..order).contains(o)),
                    PhaseRef::Name(n) => phases
                        .iter()
                        .position(|p| p.name == n)
                        .or_else(|| phases.iter().position(|p| p.name.to_lowercase() == n.to_lowercase()))
                        .map(|i| i + 1),
                },
                Node::Null | Node::Bool(_) | Node::Float(_) | Node::List(_) | Node::Map(_) => None,
            };
            let Some(earlier) = earlier.and_then(|o| u32::try_from(o).ok()) else {
                return Err(semantic(format!(
                    "phases[{index}].dependencies: each entry must name an earlier phase by order or name"
                )));
            };
            if !dependencies.contains(&PhaseRef::Order(earlier)) {
                dependencies.push(PhaseRef::Order(earlier));
            }
        }
        phases.push(TemplatePhase { name, description: raw_phase.description, tasks, dependencies });
    }
    let template = Template {
        slug: slug.to_owned(),
        name,
        description: raw.description,
        category: raw.category.filter(|c| !c.trim().is_empty()).unwrap_or_else(|| "general".to_owned()),
        context: raw.context,
        guidelines: raw.guidelines.unwrap_or_default(),
        metadata: raw.metadata.map(|o| o.0).unwrap_or_default(),
        variables,
        phases,
    };
    if let Some(bad) = template.malformed_placeholders().into_iter().next() {
        return Err(semantic(format!("placeholder {{{{{bad}}}}} is not a variable name (letters, digits and _)")));
    }
    if let Some(unknown) =
        template.placeholders().into_iter().find(|p| !template.variables.iter().any(|v| &v.name == p))
    {
        return Err(semantic(format!("placeholder {{{{ {unknown} }}}} does not name a declared variable")));
    }
    Ok(template)
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_owned()
}

/// serde-saphyr's message without its own `error: line L column C: ` prefix (the location is
/// reported separately).
fn yaml_message(message: &str) -> String {
    let line = first_line(message);
    let rest = line.strip_prefix("error: ").unwrap_or(&line);
    match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((location, text)) if location.contains(" column ") => text.to_owned(),
        _ => rest.to_owned(),
    }
}

fn variable(name: &str, raw: Option<RawVariable>) -> Result<Variable, ParseError> {
    let raw = raw.unwrap_or(RawVariable {
        description: None,
        default: None,
        required: None,
        example: None,
        examples: None,
        format: None,
        allowed_values: None,
        enum_values: None,
        pattern: None,
        charset: None,
    });
    let default = match raw.default {
        None | Some(Node::Null) => None,
        Some(node) => Some(
            node.scalar_text().ok_or_else(|| semantic(format!("variables.{name}.default must be a scalar value")))?,
        ),
    };
    if let Some(pattern) = &raw.pattern {
        regex::Regex::new(pattern).map_err(|e| {
            semantic(format!("variables.{name}.pattern is not a valid regex: {}", first_line(&e.to_string())))
        })?;
    }
    let scalars = |field: &str, nodes: Option<Vec<Node>>| -> Result<Vec<String>, ParseError> {
        nodes
            .unwrap_or_default()
            .iter()
            .map(|n| {
                n.scalar_text().ok_or_else(|| semantic(format!("variables.{name}.{field} must hold scalar values")))
            })
            .collect()
    };
    let mut examples = scalars("examples", raw.examples)?;
    if let Some(example) = raw.example {
        let text = example
            .scalar_text()
            .ok_or_else(|| semantic(format!("variables.{name}.example must be a scalar value")))?;
        examples.insert(0, text);
    }
    let mut allowed_values = scalars("allowed_values", raw.allowed_values)?;
    allowed_values.extend(scalars("enum", raw.enum_values)?);
    let variable = Variable {
        name: name.to_owned(),
        required: raw.required.unwrap_or(default.is_none()),
        description: raw.description,
        default,
        examples,
        format: raw.format,
        allowed_values,
        pattern: raw.pattern,
        charset: raw.charset,
    };
    if let Some(default) = &variable.default {
        check_value(&variable, default).map_err(|e| semantic(format!("variables.{name}.default: {e}")))?;
    }
    Ok(variable)
}

/// A task is a non-empty string, or a mapping with a string `name` and an optional string
/// `description` (and nothing else).
fn template_task(node: &Node) -> Result<TemplateTask, String> {
    match node {
        Node::String(name) if !name.trim().is_empty() => {
            Ok(TemplateTask { name: name.trim().to_owned(), description: None })
        }
        Node::Map(entries) => {
            if let Some((key, _)) = entries.iter().find(|(k, _)| k != "name" && k != "description") {
                return Err(format!("unknown field `{key}`, expected `name` or `description`"));
            }
            let name = node.get("name").and_then(Node::as_str).map(str::trim).filter(|n| !n.is_empty());
            let name = name.ok_or_else(|| "a task mapping needs a non-empty string `name`".to_owned())?;
            let description = match node.get("description") {
                None | Some(Node::Null) => None,
                Some(Node::String(d)) => Some(d.clone()),
                Some(_) => return Err("`description` must be a string".to_owned()),
            };
            Ok(TemplateTask { name: name.to_owned(), description })
        }
        Node::String(_) | Node::Null | Node::Bool(_) | Node::Int(_) | Node::Float(_) | Node::List(_) => {
            Err("must be a non-empty string or a mapping with a `name`".to_owned())
        }
    }
}

// ---- placeholders -----------------------------------------------------------------------

fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Calls `f` with the inside of each `{{ … }}` in `text`, trimmed, in order.
fn for_each_braced(text: &str, mut f: impl FnMut(&str)) {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { return };
        f(after[..end].trim());
        rest = &after[end + 2..];
    }
}

/// Calls `f` with each placeholder name in `text`, in order.
fn for_each_placeholder(text: &str, mut f: impl FnMut(&str)) {
    for_each_braced(text, |inside| {
        if is_placeholder_name(inside) {
            f(inside);
        }
    });
}

/// Replaces every `{{ name }}` whose name is in `values`; other text is kept as is.
fn substitute_text(text: &str, values: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match values.get(name) {
            Some(value) => out.push_str(value),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn substitute(node: &Node, values: &HashMap<&str, &str>) -> Node {
    match node {
        Node::String(s) => Node::String(substitute_text(s, values)),
        Node::List(items) => Node::List(items.iter().map(|n| substitute(n, values)).collect()),
        Node::Map(entries) => Node::Map(entries.iter().map(|(k, v)| (k.clone(), substitute(v, values))).collect()),
        Node::Null | Node::Bool(_) | Node::Int(_) | Node::Float(_) => node.clone(),
    }
}

fn collect_node(node: &Node, out: &mut Vec<String>) {
    match node {
        Node::String(s) => for_each_placeholder(s, |p| out.push(p.to_owned())),
        Node::List(items) => items.iter().for_each(|n| collect_node(n, out)),
        Node::Map(entries) => entries.iter().for_each(|(_, v)| collect_node(v, out)),
        Node::Null | Node::Bool(_) | Node::Int(_) | Node::Float(_) => {}
    }
}

impl Template {
    /// Every string of the template, in document order (for placeholder checks).
    fn strings(&self) -> Vec<&str> {
        fn walk<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
            match node {
                Node::String(s) => out.push(s),
                Node::List(items) => items.iter().for_each(|n| walk(n, out)),
                Node::Map(entries) => entries.iter().for_each(|(_, v)| walk(v, out)),
                Node::Null | Node::Bool(_) | Node::Int(_) | Node::Float(_) => {}
            }
        }
        let mut out: Vec<&str> = vec![&self.name];
        out.extend(self.description.as_deref());
        out.extend(self.guidelines.iter().map(String::as_str));
        for phase in &self.phases {
            out.push(&phase.name);
            out.extend(phase.description.as_deref());
            for task in &phase.tasks {
                out.push(&task.name);
                out.extend(task.description.as_deref());
            }
        }
        if let Some(context) = &self.context {
            walk(context, &mut out);
        }
        for (_, value) in &self.metadata {
            walk(value, &mut out);
        }
        out
    }

    /// Inside texts of `{{ … }}` that are not placeholder names.
    fn malformed_placeholders(&self) -> Vec<String> {
        let mut bad = Vec::new();
        for s in self.strings() {
            for_each_braced(s, |inside| {
                if !is_placeholder_name(inside) {
                    bad.push(format!(" {inside} "));
                }
            });
        }
        bad
    }

    /// Every placeholder name used anywhere, without repeats, in order of appearance.
    pub fn placeholders(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut text = |s: &str| for_each_placeholder(s, |p| found.push(p.to_owned()));
        text(&self.name);
        self.description.as_deref().map(&mut text);
        self.guidelines.iter().for_each(|g| text(g));
        for phase in &self.phases {
            text(&phase.name);
            phase.description.as_deref().map(&mut text);
            for task in &phase.tasks {
                text(&task.name);
                task.description.as_deref().map(&mut text);
            }
        }
        let mut nodes = Vec::new();
        if let Some(context) = &self.context {
            collect_node(context, &mut nodes);
        }
        for (_, value) in &self.metadata {
            collect_node(value, &mut nodes);
        }
        found.extend(nodes);
        let mut unique: Vec<String> = Vec::new();
        for p in found {
            if !unique.contains(&p) {
                unique.push(p);
            }
        }
        unique
    }

    /// Checks supplied values against the declared variables and resolves every variable
    /// (supplied value, else default, else empty for an optional one). Values for undeclared
    /// names are ignored.
    ///
    /// # Errors
    /// Every problem, in declaration order, worded as the original (seed-000 §4.8):
    /// "Required variable 'x' is missing: {description} (expected format: …; example: '…')",
    /// "Variable 'x' must be one of: a, b", …
    pub fn resolve(&self, supplied: &[(String, VariableValue)]) -> Result<Vec<(String, String)>, Vec<VariableProblem>> {
        let mut errors = Vec::new();
        let mut resolved = Vec::with_capacity(self.variables.len());
        for var in &self.variables {
            let name = &var.name;
            let mut problem = |message: String| errors.push(VariableProblem { variable: name.clone(), message });
            match supplied.iter().find(|(k, _)| k == name).map(|(_, v)| v) {
                Some(VariableValue::NonScalar) => problem(format!("Variable '{name}' must be a scalar value")),
                Some(VariableValue::Null) => problem(format!("Variable '{name}' must not be null")),
                Some(VariableValue::Text(value)) => match check_value(var, value) {
                    Ok(()) => resolved.push((name.clone(), value.clone())),
                    Err(e) => problem(e),
                },
                None => match (&var.default, var.required) {
                    (Some(default), _) => resolved.push((name.clone(), default.clone())),
                    (None, false) => resolved.push((name.clone(), String::new())),
                    (None, true) => problem(missing_message(var)),
                },
            }
        }
        if errors.is_empty() { Ok(resolved) } else { Err(errors) }
    }

    /// Applies resolved values to the whole template.
    pub fn instantiate(&self, resolved: &[(String, String)]) -> Instance {
        let values: HashMap<&str, &str> = resolved.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let text = |s: &str| substitute_text(s, &values);
        Instance {
            name: text(&self.name),
            description: self.description.as_deref().map(text),
            context: self.context.as_ref().map(|c| substitute(c, &values)),
            guidelines: self.guidelines.iter().map(|g| text(g)).collect(),
            phases: self
                .phases
                .iter()
                .map(|p| TemplatePhase {
                    name: text(&p.name),
                    description: p.description.as_deref().map(text),
                    tasks: p
                        .tasks
                        .iter()
                        .map(|t| TemplateTask { name: text(&t.name), description: t.description.as_deref().map(text) })
                        .collect(),
                    dependencies: p.dependencies.clone(),
                })
                .collect(),
            variables_applied: resolved.to_vec(),
        }
    }

    /// Substitutes the template's metadata values.
    pub fn metadata_with(&self, resolved: &[(String, String)]) -> Vec<(String, Node)> {
        let values: HashMap<&str, &str> = resolved.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.metadata.iter().map(|(k, v)| (k.clone(), substitute(v, &values))).collect()
    }
}

fn check_value(var: &Variable, value: &str) -> Result<(), String> {
    let name = &var.name;
    if value.len() > MAX_VARIABLE_BYTES {
        return Err(format!("Variable '{name}' exceeds maximum length of {MAX_VARIABLE_BYTES} bytes"));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        return Err(format!("Variable '{name}' contains disallowed control characters"));
    }
    if !var.allowed_values.is_empty() && !var.allowed_values.iter().any(|a| a == value) {
        return Err(format!("Variable '{name}' must be one of: {}", var.allowed_values.join(", ")));
    }
    if let Some(pattern) = &var.pattern {
        let matches = regex::Regex::new(pattern).map(|re| re.is_match(value)).unwrap_or(false);
        if !matches {
            return Err(format!("Variable '{name}' does not match the required pattern"));
        }
    }
    if let Some(raw) = &var.charset {
        match Charset::parse(raw) {
            None => return Err(format!("Variable '{name}' declares unsupported charset '{raw}'")),
            Some(charset) if !charset.allows(value) => {
                return Err(format!("Variable '{name}' must use the {raw} character set"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn missing_message(var: &Variable) -> String {
    let mut message = format!("Required variable '{}' is missing", var.name);
    if let Some(description) = var.description.as_deref().filter(|d| !d.is_empty()) {
        message.push_str(&format!(": {description}"));
    }
    let mut hints = Vec::new();
    if let Some(format) = &var.format {
        hints.push(format!("expected format: {format}"));
    }
    if let Some(example) = var.examples.first() {
        hints.push(format!("example: '{example}'"));
    }
    if !hints.is_empty() {
        message.push_str(&format!(" ({})", hints.join("; ")));
    }
    message
}

impl Instance {
    /// The markdown context generated when a template has none (the original's layout):
    /// `## Plan: {name}`, the description, `### Variables` and `### Guidelines`.
    pub fn generated_context(&self) -> String {
        let mut out = format!("## Plan: {}\n", self.name);
        if let Some(description) = self.description.as_deref().filter(|d| !d.trim().is_empty()) {
            out.push_str(&format!("\n{}\n", description.trim()));
        }
        if !self.variables_applied.is_empty() {
            out.push_str("\n### Variables\n\n");
            for (k, v) in &self.variables_applied {
                out.push_str(&format!("- **{k}**: {v}\n"));
            }
        }
        if !self.guidelines.is_empty() {
            out.push_str("\n### Guidelines\n\n");
            for g in &self.guidelines {
                out.push_str(&format!("- {g}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
