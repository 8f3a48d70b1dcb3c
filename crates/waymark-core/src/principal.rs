//! Who is calling: resolved once per request by the transport, passed to every use case.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use waymark_domain::{ApiKeyId, Scope, Scopes, SessionId, WorkspaceId, WorkspaceName};

/// The transport a call arrived on, recorded in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// MCP over streamable HTTP.
    Http,
    /// MCP over stdio.
    Stdio,
    /// The operator CLI.
    Cli,
    /// A Rust program calling the library.
    Library,
}

impl Transport {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Stdio => "stdio",
            Self::Cli => "cli",
            Self::Library => "library",
        }
    }
}

/// The tool call in progress, set by [`crate::Service::call_tool`] for the handler.
#[derive(Clone, Debug)]
pub struct CallContext {
    /// The tool being called.
    pub tool: &'static str,
    /// The agent session named in the arguments (`session_id` or `previous_session_id`),
    /// when it exists in the caller's workspace.
    pub session: Option<SessionId>,
    /// Set once the call is in the session's durable history.
    pub(crate) recorded: Arc<AtomicBool>,
}

/// The authenticated caller. Every query it makes is scoped by `workspace_id`.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The caller's workspace.
    pub workspace_id: WorkspaceId,
    /// The workspace's name.
    pub workspace: WorkspaceName,
    /// The API key used, if any (stdio with `--workspace`, the CLI and the library use none).
    pub key_id: Option<ApiKeyId>,
    /// What the caller may do.
    pub scopes: Scopes,
    /// Tools the key may call; `None` allows every tool its scopes allow.
    pub tools: Option<Arc<[String]>>,
    /// The key's per-minute call budget; `None` is unlimited (owner access).
    pub rate_limit_per_minute: Option<u32>,
    /// Where the call came from.
    pub transport: Transport,
    /// The tool call in progress (`None` outside `call_tool`).
    pub call: Option<CallContext>,
}

impl Principal {
    /// Owner access to a workspace: both scopes, no key, no allow-list, no rate limit. Used by
    /// the CLI, stdio with `--workspace`, and library callers, who already own the database.
    pub fn owner(workspace_id: WorkspaceId, workspace: WorkspaceName, transport: Transport) -> Self {
        Self {
            workspace_id,
            workspace,
            key_id: None,
            scopes: Scopes::ALL,
            tools: None,
            rate_limit_per_minute: None,
            transport,
            call: None,
        }
    }

    /// Whether the caller holds `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// Whether the caller's allow-list (if any) includes `tool`.
    pub fn may_call(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|allowed| allowed.iter().any(|t| t == tool))
    }
}
