//! The build-script edge: modules written into a directory (only when their content changed),
//! the files each was made from (what Cargo is told to watch), and errors that carry the
//! diagnostics.

use crate::*;
use schemac::build::BuildError;
use schemac::Builder;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("schemac-build-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("scratch directory");
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn copy_schema(name: &str, into: &Path) -> PathBuf {
    let target = into.join(name);
    std::fs::copy(workspace_dir().join("schemas").join(name), &target).expect("copy");
    target
}

#[test]
fn a_build_writes_each_module_once_and_watches_exactly_its_sources() {
    let scratch = Scratch::new("sources");
    let (v1, v2) = (copy_schema("chat.schema", &scratch.0), copy_schema("chat_v2.schema", &scratch.0));
    copy_schema("taskboard.schema", &scratch.0);
    let out = scratch.0.join("out");
    let builder = Builder::new().out_dir(&out).emit_rerun_if_changed(false);
    let generated = builder.compile(&[&v2]).expect("compile");
    assert_eq!(generated.len(), 1);
    assert_eq!(generated[0].name, "chat");
    // The schema and the prior its migration names; not the unrelated taskboard beside them.
    assert_eq!(generated[0].sources, [v2.clone(), v1]);
    let module = &generated[0].module;
    assert_eq!(module, &out.join("chat.rs"));
    let ir = schemac::files::load(&v2).expect("load");
    let expected = schemac::gen::rust(&ir, &schemac::gen::GenOptions::default()).expect("gen");
    assert_eq!(std::fs::read_to_string(module).expect("module"), expected);
    let written = std::fs::metadata(module).and_then(|metadata| metadata.modified()).expect("mtime");
    std::thread::sleep(std::time::Duration::from_millis(20));
    builder.compile(&[&v2]).expect("again");
    let unchanged = std::fs::metadata(module).and_then(|metadata| metadata.modified()).expect("mtime");
    assert_eq!(written, unchanged, "an unchanged module is not written again");
}

#[test]
fn build_errors_carry_the_diagnostics_and_name_the_files() {
    let scratch = Scratch::new("errors");
    let broken = scratch.0.join("broken.schema");
    std::fs::write(&broken, "schema broken;\n\ncollection Note {\n    text: strng,\n}\n").expect("write");
    let builder = Builder::new().out_dir(scratch.0.join("out")).emit_rerun_if_changed(false);
    let error = builder.compile(&[&broken]).expect_err("a schema with an error");
    let message = format!("{error:?}");
    assert!(matches!(error, BuildError::Load(_)));
    assert!(message.contains("error[E0104]: unknown type `strng`"), "{message}");
    assert!(message.contains("broken.schema:4:11"), "{message}");
    let (v1, v2) = (copy_schema("chat.schema", &scratch.0), copy_schema("chat_v2.schema", &scratch.0));
    let error = builder.compile(&[v1, v2]).expect_err("two modules named chat");
    assert!(matches!(error, BuildError::SameName { ref name, .. } if name == "chat"), "{error}");
    let bad_attribute = Builder::new()
        .out_dir(scratch.0.join("out"))
        .emit_rerun_if_changed(false)
        .type_attribute("Nope", "#[derive(Hash)]");
    let error = bad_attribute.compile(&[copy_schema("taskboard.schema", &scratch.0)]).expect_err("unknown target");
    assert!(error.to_string().contains("`Nope` names nothing in the schema"), "{error}");
}
