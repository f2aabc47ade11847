//! Every code's explanation: its wrong example produces the code, its corrected example checks
//! without errors and without that code.

use schemac::diagnostics::Code;
use schemac::explain::{examples, render, PRIOR_PLACEHOLDER};
use schemac::Priors;

fn priors_for(prior: Option<&str>) -> Priors {
    let mut priors = Priors::new();
    if let Some(text) = prior {
        let checked = schemac::check_source(text, None);
        let ir =
            checked.ir.unwrap_or_else(|| panic!("the previous version does not compile: {:?}", checked.diagnostics));
        priors.insert(ir);
    }
    priors
}

#[test]
fn every_explanation_has_working_examples() {
    let mut failures = Vec::new();
    for &code in Code::ALL {
        let examples = examples(code);
        assert!(!examples.wrong.is_empty() && !examples.right.is_empty(), "{code}: missing an example");
        let priors = priors_for(examples.prior.as_deref());
        let wrong = schemac::check_source(&examples.wrong, Some(&priors));
        if !wrong.diagnostics.iter().any(|diagnostic| diagnostic.code == code) {
            failures.push(format!("{code}: the wrong example does not produce it: {:?}", wrong.diagnostics));
        }
        let right = schemac::check_source(&examples.right, Some(&priors));
        if right.diagnostics.iter().any(|diagnostic| diagnostic.is_error() || diagnostic.code == code) {
            failures.push(format!("{code}: the corrected example still fails: {:?}", right.diagnostics));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rendered_explanations_carry_real_hashes() {
    for &code in Code::ALL {
        let text = render(code);
        assert!(text.starts_with(&format!("# {code}")), "{code}: the explanation must start with its code");
        assert!(!text.contains(PRIOR_PLACEHOLDER), "{code}: placeholder left in the printed text");
    }
}

#[test]
fn the_language_reference_lists_every_code() {
    let reference = crate::read(&crate::workspace_dir().join("docs/schema-language.md"));
    let missing: Vec<&str> =
        Code::ALL.iter().map(|code| code.as_str()).filter(|code| !reference.contains(code)).collect();
    assert!(missing.is_empty(), "docs/schema-language.md does not list {missing:?}");
}
