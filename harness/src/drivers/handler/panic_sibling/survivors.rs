//! What must survive the panic: the siblings, the connection they share,
//! and a later call on it.

use std::collections::BTreeSet;

use conformance::proto::probe::HoldResponse;

use crate::client::ClientChannel;
use crate::drivers::handler::common::spawn_hold;
use crate::drivers::prelude::*;

pub(super) struct Survivors {
    /// Siblings that ended OK.
    pub completed: usize,
    /// TCP connections the client opened.
    pub opened: usize,
    /// Connection identities the server reported for the siblings and the
    /// later call.
    pub identities: usize,
}

impl Survivors {
    /// Waits for the siblings, then makes a later Hold on the same channel;
    /// every sibling must end OK, the later call must succeed, and all of
    /// them must have used one connection.
    pub async fn check(
        ctx: &Ctx,
        channel: &ClientChannel,
        siblings: Vec<Call<HoldResponse>>,
        limit: Duration,
        checks: &mut Checks,
    ) -> Self {
        let mut connection_ids = BTreeSet::new();
        let mut completed = 0usize;
        for (index, outcome) in join_all(siblings).await.into_iter().enumerate() {
            match outcome {
                Ok(response) => {
                    completed += 1;
                    connection_ids.insert(response.connection_id);
                }
                Err(err) => checks.problem(format!("sibling #{index} broke: {err}")),
            }
        }
        let request = hold_request(
            &ctx.unique("after"),
            HoldMode::Unspecified,
            Duration::ZERO,
            "",
        );
        match spawn_hold(ctx, channel.handle(), "later Hold", limit, request)
            .join()
            .await
        {
            Ok(response) => {
                connection_ids.insert(response.connection_id);
            }
            Err(err) => checks.problem(format!("a later call on the same channel failed: {err}")),
        }
        let opened = channel.connections_opened();
        if opened != 1 {
            checks.problem(format!(
                "the client opened {opened} TCP connections: the first one did not survive the panic"
            ));
        }
        let identities = connection_ids.len();
        if identities > 1 {
            checks.problem(format!(
                "the server reported {identities} connection identities for calls on one channel: the connection was replaced"
            ));
        }
        Self {
            completed,
            opened,
            identities,
        }
    }
}
