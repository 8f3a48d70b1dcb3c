//! The authoring API: the [`Workflow`] and [`Activity`] traits, their errors, and the
//! [`Registry`] a process runs them from.
//!
//! ```
//! use waymark_engine::{Activity, ActivityContext, ActivityError, Workflow, WorkflowContext, WorkflowResult};
//!
//! struct Greet;
//!
//! #[async_trait::async_trait]
//! impl Activity for Greet {
//!     const TYPE: &'static str = "greet";
//!     type Input = String;
//!     type Output = String;
//!     async fn run(&self, _ctx: &ActivityContext, name: String) -> Result<String, ActivityError> {
//!         Ok(format!("hello {name}"))
//!     }
//! }
//!
//! struct Hello;
//!
//! #[async_trait::async_trait]
//! impl Workflow for Hello {
//!     const TYPE: &'static str = "hello";
//!     const DESCRIPTION: &'static str = "Greets once.";
//!     type Input = ();
//!     type Output = String;
//!     async fn run(&self, ctx: &WorkflowContext, _input: ()) -> WorkflowResult<String> {
//!         Ok(ctx.activity::<Greet>("world".into()).await?)
//!     }
//! }
//!
//! let registry = waymark_engine::Registry::new().workflow(Hello).activity(Greet);
//! assert!(registry.workflow_definition("hello").is_some());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::activity::ActivityContext;
use crate::context::WorkflowContext;
use crate::event::Payload;
use crate::retry::ActivityOptions;
use crate::status::FailureCategory;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a workflow returns.
pub type WorkflowResult<T> = Result<T, WorkflowError>;

/// A workflow type: ordinary async Rust, run deterministically.
///
/// Rules (ENGINE.md, the seed's §3.7): no wall clock (use [`WorkflowContext::now`]), no
/// randomness (use [`WorkflowContext::random`] or [`WorkflowContext::side_effect`]), no I/O
/// and no tokio primitives; every effect goes through an activity. Code changes that alter
/// the calls a recorded history replays use [`WorkflowContext::patched`].
#[async_trait::async_trait]
pub trait Workflow: Send + Sync + 'static {
    /// The stable key of the type (`simple`); never renamed once runs exist.
    const TYPE: &'static str;
    /// What it does, for agents choosing a workflow.
    const DESCRIPTION: &'static str = "";
    /// The signal names it accepts; others are rejected at the door.
    const SIGNALS: &'static [&'static str] = &[];
    /// The input. Its JSON schema is the MCP `arguments` list: `()` for none, or a struct whose
    /// fields, in order, are the ordered arguments (required unless `Option` or defaulted).
    type Input: DeserializeOwned + Serialize + schemars::JsonSchema + Send + 'static;
    /// The output.
    type Output: Serialize + Send + 'static;

    /// The workflow's body.
    async fn run(&self, ctx: &WorkflowContext, input: Self::Input) -> WorkflowResult<Self::Output>;
}

/// An activity type: an async function that may do anything (I/O, clocks), run at least once.
#[async_trait::async_trait]
pub trait Activity: Send + Sync + 'static {
    /// The stable key of the type.
    const TYPE: &'static str;
    /// The input.
    type Input: DeserializeOwned + Serialize + Send + 'static;
    /// The output.
    type Output: DeserializeOwned + Serialize + Send + 'static;

    /// The options a call uses unless it passes its own (Temporal's defaults).
    fn options() -> ActivityOptions {
        ActivityOptions::default()
    }

    /// The activity's body.
    ///
    /// # Errors
    /// An [`ActivityError`]; it is retried per the retry policy unless non-retryable.
    async fn run(&self, ctx: &ActivityContext, input: Self::Input) -> Result<Self::Output, ActivityError>;
}

/// An error raised by activity code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{exception_type}: {message}")]
pub struct ActivityError {
    /// The error's type name; retry policies match on it.
    pub exception_type: String,
    /// What went wrong.
    pub message: String,
    /// True to fail the activity at once, whatever the retry policy says.
    pub non_retryable: bool,
}

impl ActivityError {
    /// A retryable error of type `exception_type`.
    pub fn new(exception_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self { exception_type: exception_type.into(), message: message.into(), non_retryable: false }
    }

    /// An error that is never retried.
    pub fn non_retryable(exception_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self { non_retryable: true, ..Self::new(exception_type, message) }
    }
}

/// How an activity call ended without a result, as the workflow sees it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("activity {activity_type} failed ({category}): {exception_type}: {message}")]
pub struct ActivityFailure {
    /// The activity type.
    pub activity_type: String,
    /// The activity execution, once known.
    pub activity_execution_id: Option<String>,
    /// `activity` (attempts exhausted), `application` (non-retryable), `timeout` or `cancelled`.
    pub category: FailureCategory,
    /// The error's type.
    pub exception_type: String,
    /// The error's message.
    pub message: String,
    /// Whether it was raised as non-retryable.
    pub non_retryable: bool,
}

/// Why a workflow did not return an output.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WorkflowError {
    /// The workflow failed with an application error (`failure_category = application`).
    #[error("{exception_type}: {message}")]
    Failed {
        /// The error's type name.
        exception_type: String,
        /// What went wrong.
        message: String,
    },
    /// An activity failed and the workflow let the failure propagate (`?`).
    #[error(transparent)]
    Activity(#[from] ActivityFailure),
    /// The workflow was cancelled: a wait ended because of a cancel request, and the workflow
    /// let it propagate. The run closes as `cancelled`.
    #[error("the workflow was cancelled")]
    Cancelled,
    /// Returned by [`WorkflowContext::continue_as_new`]: close this run and start a new one with
    /// this input.
    #[error("continue as new")]
    ContinueAsNew(Payload),
}

impl WorkflowError {
    /// An application failure.
    pub fn failed(exception_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Failed { exception_type: exception_type.into(), message: message.into() }
    }
}

/// A workflow type as the registry holds it: typed input and output erased to JSON.
pub(crate) trait ErasedWorkflow: Send + Sync {
    fn definition(&self) -> &WorkflowDefinition;
    /// Starts the body; `Err` when `input` does not fit `Input`.
    fn start(&self, ctx: WorkflowContext, input: Value) -> Result<BoxFuture<WorkflowResult<Value>>, String>;
    /// Checks that `input` fits `Input`.
    fn check_input(&self, input: &Value) -> Result<(), String>;
}

struct TypedWorkflow<W: Workflow> {
    workflow: Arc<W>,
    definition: WorkflowDefinition,
}

impl<W: Workflow> ErasedWorkflow for TypedWorkflow<W> {
    fn definition(&self) -> &WorkflowDefinition {
        &self.definition
    }

    fn start(&self, ctx: WorkflowContext, input: Value) -> Result<BoxFuture<WorkflowResult<Value>>, String> {
        let input: W::Input = serde_json::from_value(input).map_err(|e| e.to_string())?;
        let workflow = Arc::clone(&self.workflow);
        Ok(Box::pin(async move {
            let output = workflow.run(&ctx, input).await?;
            serde_json::to_value(output).map_err(|e| WorkflowError::failed("OutputNotSerializable", e.to_string()))
        }))
    }

    fn check_input(&self, input: &Value) -> Result<(), String> {
        W::Input::deserialize(input).map(drop).map_err(|e| e.to_string())
    }
}

/// An activity type as the registry holds it.
pub(crate) trait ErasedActivity: Send + Sync {
    fn run(&self, ctx: ActivityContext, input: Value) -> BoxFuture<Result<Value, ActivityError>>;
}

struct TypedActivity<A: Activity>(Arc<A>);

impl<A: Activity> ErasedActivity for TypedActivity<A> {
    fn run(&self, ctx: ActivityContext, input: Value) -> BoxFuture<Result<Value, ActivityError>> {
        let activity = Arc::clone(&self.0);
        Box::pin(async move {
            let input: A::Input = serde_json::from_value(input)
                .map_err(|e| ActivityError::non_retryable("InvalidActivityInput", e.to_string()))?;
            let output = activity.run(&ctx, input).await?;
            serde_json::to_value(output)
                .map_err(|e| ActivityError::non_retryable("OutputNotSerializable", e.to_string()))
        })
    }
}

/// What the registry knows about a workflow type (for `list_workflows`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkflowDefinition {
    /// The type key.
    pub key: String,
    /// The Rust type's name (`workflow_class`).
    pub type_name: String,
    /// What it does.
    pub description: String,
    /// Declared signal names.
    pub signals: Vec<String>,
    /// The JSON schema of the input (draft 2020-12, inlined).
    pub input_schema: Value,
}

impl WorkflowDefinition {
    /// The ordered arguments of the input: one per field of an object input (in declaration
    /// order), a single `input` argument for any other input, none for `()`.
    pub fn arguments(&self) -> Vec<ArgumentSpec> {
        if self.takes_no_input() {
            return Vec::new();
        }
        let Some(properties) = self.input_schema.get("properties").and_then(Value::as_object) else {
            let kind = json_type(&self.input_schema);
            return vec![ArgumentSpec {
                name: "input".to_owned(),
                required: !kind.split('|').any(|t| t == "null"),
                r#type: kind,
                description: self.input_schema.get("description").and_then(Value::as_str).map(str::to_owned),
                default: self.input_schema.get("default").cloned(),
            }];
        };
        let required: Vec<&str> = self
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        properties
            .iter()
            .map(|(name, schema)| ArgumentSpec {
                name: name.clone(),
                r#type: json_type(schema),
                required: required.contains(&name.as_str()),
                description: schema.get("description").and_then(Value::as_str).map(str::to_owned),
                default: schema.get("default").cloned(),
            })
            .collect()
    }

    /// Whether the input takes no arguments (`()`).
    pub fn takes_no_input(&self) -> bool {
        self.input_schema.get("type").and_then(Value::as_str) == Some("null")
    }

    /// Whether the input is an object whose fields are the arguments (else a single
    /// `input` argument, or none).
    pub fn input_is_object(&self) -> bool {
        self.input_schema.get("properties").is_some()
    }
}

/// One ordered argument of a workflow's input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArgumentSpec {
    /// The field name.
    pub name: String,
    /// Its JSON type (`string`, `integer`, `string|null`, ...).
    pub r#type: String,
    /// Whether it must be given (explicit in the schema, never inferred from a default).
    pub required: bool,
    /// Its description, from the field's doc comment.
    pub description: Option<String>,
    /// Its default, if any.
    pub default: Option<Value>,
}

fn json_type(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("|"),
        _ => "any".to_owned(),
    }
}

/// The workflow and activity types a process can run. Cheap to clone.
#[derive(Clone, Default)]
pub struct Registry {
    workflows: BTreeMap<String, Arc<dyn ErasedWorkflow>>,
    activities: BTreeMap<String, Arc<dyn ErasedActivity>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("workflows", &self.workflows.keys().collect::<Vec<_>>())
            .field("activities", &self.activities.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a workflow type (replacing one with the same key).
    #[must_use]
    pub fn workflow<W: Workflow>(mut self, workflow: W) -> Self {
        let mut settings = schemars::generate::SchemaSettings::draft2020_12();
        settings.inline_subschemas = true;
        let schema = settings.into_generator().into_root_schema_for::<W::Input>();
        let definition = WorkflowDefinition {
            key: W::TYPE.to_owned(),
            type_name: std::any::type_name::<W>().to_owned(),
            description: W::DESCRIPTION.to_owned(),
            signals: W::SIGNALS.iter().map(|s| (*s).to_owned()).collect(),
            input_schema: schema.to_value(),
        };
        self.workflows.insert(W::TYPE.to_owned(), Arc::new(TypedWorkflow { workflow: Arc::new(workflow), definition }));
        self
    }

    /// Adds an activity type (replacing one with the same key).
    #[must_use]
    pub fn activity<A: Activity>(mut self, activity: A) -> Self {
        self.activities.insert(A::TYPE.to_owned(), Arc::new(TypedActivity(Arc::new(activity))));
        self
    }

    /// Adds every type of `other` (its types win on a key clash).
    #[must_use]
    pub fn merge(mut self, other: Registry) -> Self {
        self.workflows.extend(other.workflows);
        self.activities.extend(other.activities);
        self
    }

    /// The definition of workflow type `key`.
    pub fn workflow_definition(&self, key: &str) -> Option<&WorkflowDefinition> {
        self.workflows.get(key).map(|w| w.definition())
    }

    /// Every workflow definition, by key.
    pub fn workflow_definitions(&self) -> impl Iterator<Item = &WorkflowDefinition> {
        self.workflows.values().map(|w| w.definition())
    }

    /// Whether activity type `key` is registered.
    pub fn has_activity(&self, key: &str) -> bool {
        self.activities.contains_key(key)
    }

    pub(crate) fn erased_workflow(&self, key: &str) -> Option<Arc<dyn ErasedWorkflow>> {
        self.workflows.get(key).cloned()
    }

    pub(crate) fn erased_activity(&self, key: &str) -> Option<Arc<dyn ErasedActivity>> {
        self.activities.get(key).cloned()
    }
}
