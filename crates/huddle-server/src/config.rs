//! From flags to the engine's [`Config`] and the server's own settings.

use std::path::PathBuf;
use std::time::Duration;

use huddle_core::{ColorPolicy, Config, Durability, Limits, SessionType};
use huddle_tokio::axum::SocketOptions;
use huddle_wire::{DecodeLimits, FrameLimitError};

use crate::cli::{ColorPolicyArg, DurabilityArg, ServeArgs};
use crate::node::NodeIdentity;

/// The engine configuration the flags describe.
pub fn engine_config(args: &ServeArgs) -> Config {
    Config::new()
        .idle_timeout_ephemeral(args.idle_timeout_ephemeral)
        .idle_timeout_persistent(args.idle_timeout_persistent)
        .inactivity_timeout(args.inactivity_timeout)
        .autosave_interval(args.autosave_interval)
        .delta_threshold(args.delta_threshold)
        .history_len(
            args.history_len
                .unwrap_or_else(|| usize::try_from(args.delta_threshold).unwrap_or(usize::MAX)),
        )
        .snapshot_retention(args.snapshot_retention)
        .manual_snapshot_interval(args.manual_snapshot_interval)
        .flush_threshold(args.flush_threshold)
        .flush_threshold_bytes(args.flush_threshold_bytes)
        .presence_interval(args.presence_interval)
        .dedup_window(args.dedup_window)
        .dedup_max_age(args.dedup_max_age)
        .dedup_max_bytes(args.dedup_max_bytes)
        .appends_in_flight(usize::from(args.appends_in_flight))
        .storage_retry_initial(args.storage_retry_initial)
        .storage_retry_max(args.storage_retry_max)
        .color_policy(match args.color_policy {
            ColorPolicyArg::Seed => ColorPolicy::Seed,
            ColorPolicyArg::LeastUsed => ColorPolicy::LeastUsed,
        })
        .durability(match args.durability {
            DurabilityArg::AckOnStore => Durability::AckOnStore,
            DurabilityArg::AckOnApply => Durability::AckOnApply,
        })
        .default_session_type(SessionType::Ephemeral)
        .limits(
            Limits::new()
                .max_payload_bytes(args.max_payload_bytes)
                .max_batch_len(args.max_batch)
                .max_pending_per_board(args.max_pending_per_board)
                .max_participants(args.max_participants)
                .max_id_bytes(args.max_id_bytes)
                .max_display_name_bytes(args.max_display_name_bytes)
                .max_history_bytes(args.max_history_bytes)
                .max_pending_bytes(args.max_pending_bytes)
                .max_board_bytes(args.max_board_bytes)
                .max_snapshot_bytes(args.max_snapshot_bytes),
        )
        .store_user_sessions(args.store_user_sessions)
}

/// Whether `--max-frame-bytes` holds what one frame must hold undivided
/// under the other limits (`--max-payload-bytes`, `--max-id-bytes`,
/// `--max-display-name-bytes`, `--max-participants`): the participants
/// list of a `joined`, one element or one event of a sync in parts
/// (`docs/protocol.md`, "Large syncs in parts"). Checked at startup.
pub fn check_frame_limit(args: &ServeArgs) -> Result<(), FrameLimitError> {
    let limit = usize::try_from(args.max_frame_bytes).unwrap_or(usize::MAX);
    huddle_wire::check_frame_limit(limit, &engine_config(args).limits)
}

/// What the HTTP and WebSocket handlers need to know of the flags.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// What the WebSocket pump applies to every socket: `--write-timeout`,
    /// `--join-timeout` and `--max-data-depth`. Its frame limits are the
    /// driver's (`--max-frame-bytes`, [`crate::serve::driver_config`]).
    pub socket: SocketOptions,
    /// Token lifetime when `POST /users` names none.
    pub token_ttl: Duration,
    /// Longest token lifetime accepted.
    pub max_token_ttl: Duration,
    /// Longest id (room, user), in bytes.
    pub max_id_bytes: usize,
    /// Longest display name, in bytes.
    pub max_display_name_bytes: usize,
    /// The data directory.
    pub data_dir: PathBuf,
    /// `--demo`: the demo whiteboard and its open token endpoint.
    pub demo: bool,
    /// This node's id and advertised URL (`GET /rooms/{id}`'s `owner`
    /// when this node serves the board).
    pub node: NodeIdentity,
}

impl ServerSettings {
    /// The settings the flags describe, for a node known as `node`.
    pub fn from_args(args: &ServeArgs, node: NodeIdentity) -> Self {
        ServerSettings {
            socket: SocketOptions::new()
                .write_timeout(args.write_timeout)
                .join_timeout(args.join_timeout)
                .decode(DecodeLimits {
                    max_data_depth: usize::try_from(args.max_data_depth).unwrap_or(usize::MAX),
                }),
            token_ttl: args.token_ttl,
            max_token_ttl: args.max_token_ttl,
            max_id_bytes: args.max_id_bytes,
            max_display_name_bytes: args.max_display_name_bytes,
            data_dir: args.data_dir.clone(),
            demo: args.demo,
            node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_engine_defaults() {
        // Two deliberate differences: the server's stores (SQLite, memory)
        // apply a board's appends in the order issued, so it pipelines
        // them; and it stores user session records by default
        // (`--store-user-sessions true`). The engine's defaults suit any
        // host.
        let served = engine_config(&ServeArgs::defaults());
        assert_eq!(served.appends_in_flight, 4);
        assert!(served.store_user_sessions);
        assert_eq!(
            served
                .appends_in_flight(Config::default().appends_in_flight)
                .store_user_sessions(Config::default().store_user_sessions),
            Config::default()
        );
    }

    #[test]
    fn the_frame_limit_is_checked_against_the_other_limits() {
        let mut args = ServeArgs::defaults();
        assert_eq!(check_frame_limit(&args), Ok(()));
        args.max_frame_bytes = 262_144;
        let err = check_frame_limit(&args).unwrap_err();
        assert_eq!(err.part, huddle_wire::FramePart::JoinedHead);
        args.max_participants = 16;
        let err = check_frame_limit(&args).unwrap_err();
        assert_eq!(err.part, huddle_wire::FramePart::Element);
        args.max_payload_bytes = 200_000;
        assert_eq!(check_frame_limit(&args), Ok(()));
        args.max_frame_bytes = 65_536;
        args.max_payload_bytes = 16_384;
        args.max_participants = 256;
        let err = check_frame_limit(&args).unwrap_err();
        assert_eq!(err.part, huddle_wire::FramePart::JoinedHead);
        args.max_participants = 16;
        assert_eq!(check_frame_limit(&args), Ok(()));
    }

    #[test]
    fn the_socket_defaults_are_the_pumps() {
        let node = NodeIdentity {
            id: "node-test".into(),
            url: "ws://127.0.0.1:1/ws".into(),
        };
        let settings = ServerSettings::from_args(&ServeArgs::defaults(), node);
        assert_eq!(settings.socket, SocketOptions::default());
    }

    #[test]
    fn history_follows_the_delta_threshold_unless_given() {
        let mut args = ServeArgs::defaults();
        args.delta_threshold = 10;
        assert_eq!(engine_config(&args).history_len, 10);
        args.history_len = Some(50);
        assert_eq!(engine_config(&args).history_len, 50);
    }
}
