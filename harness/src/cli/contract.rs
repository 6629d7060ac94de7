//! `grpc-conformance contract`: checks, one RPC at a time, that a server
//! implements what the scenarios rely on (see `crate::contract`).

use clap::Args;

use super::exit;
use super::run::{TargetArgs, open_target};
use crate::contract::{self, Verdict};

#[derive(Debug, Clone, Args)]
pub struct ContractArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn contract(args: ContractArgs) -> u8 {
    let runtime = match super::runtime(None) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let target = match open_target(&args.target).await {
            Ok(target) => target,
            Err(code) => return code,
        };
        let (mut passed, mut skipped) = (0usize, 0usize);
        let outcome = contract::run(&target, |name, verdict, took| {
            let took = took.as_millis();
            match verdict {
                Verdict::Pass => {
                    passed += 1;
                    println!("PASS  {name} ({took} ms)");
                }
                Verdict::Fail(why) => println!("FAIL  {name} ({took} ms): {why}"),
                Verdict::Skip(why) => {
                    skipped += 1;
                    println!("SKIP  {name}: {why}");
                }
            }
        })
        .await;
        target.close().await;
        match outcome {
            Ok(0) => {
                println!("contract: {passed} passed, 0 failed, {skipped} skipped");
                exit::OK
            }
            Ok(failed) => {
                println!("contract: {passed} passed, {failed} failed, {skipped} skipped");
                exit::NONCONFORMANT
            }
            Err(err) => {
                super::error(err);
                exit::UNREACHABLE
            }
        }
    })
}
