//! `cairn explain`: why an op is or is not effective, with the rule, its witnesses and the
//! concurrent ops that defeated it.

use crate::node::open;
use crate::output::Output;
use crate::Failure;
use cairn::{DenialReason, OpHash, Payload};
use serde_json::{json, Value as Json};
use std::path::Path;

pub fn explain(output: Output, dir: &Path, op: &str) -> Result<(), Failure> {
    let replica = open(dir)?;
    let hash: OpHash = op.parse()?;
    let explanation = replica.explain(&hash)?.ok_or_else(|| format!("this replica does not hold op {hash}"))?;
    let rules_of = |change: u32, rule: u32| -> Option<(String, String)> {
        let log_op = replica.log().ok()?.into_iter().find(|entry| entry.hash == hash)?;
        let Payload::Changes(changes) = &log_op.op.payload else { return None };
        let collection = changes.get(change as usize)?.collection().to_owned();
        let text = replica.schema().collections.get(&collection)?.rules.get(rule as usize)?.to_string();
        Some((collection, text))
    };
    let allowed: Vec<Json> = explanation
        .allowed_by
        .iter()
        .map(|attestation| {
            let (collection, text) = rules_of(attestation.change, attestation.rule).unwrap_or_default();
            json!({
                "change": attestation.change,
                "collection": collection,
                "rule": attestation.rule,
                "text": text,
                "witnesses": attestation.witnesses.iter().map(|witness| json!({
                    "collection": witness.collection,
                    "row": witness.row.to_string(),
                    "version": witness.version.to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failed_rules: Vec<Json> = match explanation.denial.as_ref().map(|denial| &denial.reason) {
        Some(DenialReason::RulesFailed(rules)) => rules
            .iter()
            .map(|failed| json!({ "rule": failed.rule, "text": failed.text, "clause": failed.clause }))
            .collect(),
        _ => Vec::new(),
    };
    let rule = match &explanation.denial {
        Some(_) => failed_rules.first().and_then(|failed| failed["text"].as_str()).map(str::to_owned),
        None => allowed.first().and_then(|allowed| allowed["text"].as_str()).map(str::to_owned),
    };
    let value = json!({
        "op": hash.to_string(),
        "author": explanation.author.to_string(),
        "effective": explanation.effective,
        "equivocated": explanation.equivocated,
        "rule": rule,
        "allowed_by": allowed,
        "denial": explanation.denial.as_ref().map(|denial| json!({
            "change": denial.change,
            "collection": denial.collection,
            "action": denial.action,
            "reason": denial.reason.to_string(),
            "failed_rules": failed_rules,
        })),
        "defeated_by": explanation.defeated_by.iter().map(|(op, _)| op.to_string()).collect::<Vec<_>>(),
        "defeated_by_authors": explanation.defeated_by.iter().map(|(_, author)| author.to_string()).collect::<Vec<_>>(),
    });
    let mut text = format!(
        "{hash} by {}: {}",
        explanation.author,
        if explanation.effective { "effective" } else { "not effective" }
    );
    if explanation.equivocated {
        text.push_str("\n  its author signed two ops with one sequence number");
    }
    for allowed in &allowed {
        text.push_str(&format!(
            "\n  change {} allowed by `{}`",
            allowed["change"],
            allowed["text"].as_str().unwrap_or("")
        ));
        for witness in allowed["witnesses"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "\n    witness {} {} at {}",
                witness["collection"].as_str().unwrap_or(""),
                witness["row"].as_str().unwrap_or(""),
                witness["version"].as_str().unwrap_or("")
            ));
        }
    }
    if let Some(denial) = &explanation.denial {
        text.push_str(&format!("\n  {denial}"));
    }
    for (op, author) in &explanation.defeated_by {
        text.push_str(&format!("\n  defeated by {op} (by {author})"));
    }
    output.print(value, text);
    Ok(())
}
