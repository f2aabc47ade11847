//! Front-end throughput: parse + check + hash of a generated 200-collection schema (about
//! 10,000 lines), and `schemac gen rust` of it. Run with `cargo bench -p schemac --bench
//! front_end`; the targets are under 50 ms per compile and under 100 ms per generation, in
//! release.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

const COLLECTIONS: usize = 200;

/// A schema shaped like real ones: enums and records, refs between collections, and rules with
/// nested `exists`, so every checker pass has work to do.
fn generated_schema() -> String {
    let mut text = String::from("/// A generated benchmark schema.\nschema bench;\n\n");
    text.push_str("enum Role { reader, writer, admin, manager }\n\n");
    text.push_str("type Address {\n    street: string,\n    city: string,\n    zip: string?,\n}\n\n");
    for index in 0..COLLECTIONS {
        let previous = if index == 0 { COLLECTIONS - 1 } else { index - 1 };
        let _ = write!(
            text,
            r#"/// Collection number {index}.
collection Item{index} {{
    owner: identity readonly default op.author,
    previous: ref Item{previous}?,
    title: string check (len(title) >= 1 and len(title) <= 200),
    body: string check (len(body) <= 10000),
    role: Role default reader,
    priority: int default 0 check (priority >= 0 and priority <= 10),
    weight: float default 1.5,
    address: Address?,
    tags: set<string>,
    labels: map<string, string>,
    history: list<string>,
    views: counter,
    archived: bool default false,
    due: timestamp?,
    attachment: bytes?,
    // A comment the parser must skip.
    reviewer: identity?,
    score: int default 0,
    note: string? check (len(note) <= 500),
    flag: bool default true,
    level: Role default writer,
    summary: string? check (len(summary) <= 280),
    rank: int default 0 check (rank >= 0),
    published: bool default false,
    editor: identity?,
    ratio: float default 0.5 check (ratio >= 0.0 and ratio <= 1.0),
    color: string default "blue",
    location: Address?,

    allow insert if owner = op.author;
    allow update(title, body, priority) if
        owner = op.author
        or exists Grant{index} g where g.subject = self and g.grantee = op.author and g.role in (writer, admin);
    allow update(tags, labels, views) if exists Grant{index} g where g.subject = self and g.grantee = op.author;
    allow update(archived) if old.archived = false and owner = op.author;
    allow delete if owner = op.author and not exists Grant{index} g where g.subject = self and g.role = manager;
}}

collection Grant{index} {{
    subject: ref Item{index} readonly,
    grantee: identity readonly,
    role: Role,

    allow insert, update, delete if
        exists Item{index} item where item = subject and item.owner = op.author
        or exists Grant{index} g where g.subject = subject and g.grantee = op.author and g.role = admin;
}}

"#
        );
    }
    text
}

/// The fastest of `iterations` runs: the figure least disturbed by the rest of the machine.
fn measure(label: &str, bytes: usize, iterations: u32, mut run: impl FnMut()) -> Duration {
    run();
    let mut per_run = Duration::MAX;
    for _ in 0..iterations {
        let start = Instant::now();
        run();
        per_run = per_run.min(start.elapsed());
    }
    let megabytes_per_second = bytes as f64 / per_run.as_secs_f64() / 1_000_000.0;
    println!("{label:<28} {:>9.3} ms   {megabytes_per_second:>8.1} MB/s", per_run.as_secs_f64() * 1000.0);
    per_run
}

fn main() {
    let text = generated_schema();
    let lines = text.lines().count();
    println!("front end: {COLLECTIONS} collections ×2, {lines} lines, {} bytes", text.len());
    let iterations = 20;
    let file = schemac::parser::parse(&text).expect("the generated schema parses");
    let checked = schemac::check::check(&file, Some(&schemac::Priors::new()));
    assert!(checked.ir.is_some(), "the generated schema checks: {:?}", checked.diagnostics.first());
    let ir = checked.ir.expect("checked above");

    measure("parse", text.len(), iterations, || {
        black_box(schemac::parser::parse(black_box(&text)).ok());
    });
    measure("check", text.len(), iterations, || {
        black_box(schemac::check::check(black_box(&file), Some(&schemac::Priors::new())));
    });
    measure("hash", text.len(), iterations, || {
        black_box(schemac::schema_hash(black_box(&ir)));
    });
    let total = measure("parse + check + hash", text.len(), iterations, || {
        let checked = schemac::check_source(black_box(&text), Some(&schemac::Priors::new()));
        black_box(checked.ir.as_ref().map(schemac::schema_hash));
    });
    measure("fmt", text.len(), iterations, || {
        black_box(schemac::format::format_source(black_box(&text)).ok());
    });
    let options = schemac::gen::GenOptions::default();
    let module = schemac::gen::rust(&ir, &options).expect("the generated schema generates");
    let generation = measure("gen rust (from text)", text.len(), iterations, || {
        let checked = schemac::check_source(black_box(&text), Some(&schemac::Priors::new()));
        black_box(checked.ir.map(|ir| schemac::gen::rust(&ir, &options)));
    });
    measure("gen rust (from the IR)", text.len(), iterations, || {
        black_box(schemac::gen::rust(black_box(&ir), &options).ok());
    });
    println!("generated module: {} lines, {} bytes", module.lines().count(), module.len());
    for (what, measured, target) in [
        ("parse + check + hash", total, Duration::from_millis(50)),
        ("gen rust", generation, Duration::from_millis(100)),
    ] {
        println!(
            "target: {what} under {} ms; measured {:.1} ms ({:.2}x of the budget)",
            target.as_millis(),
            measured.as_secs_f64() * 1000.0,
            measured.as_secs_f64() / target.as_secs_f64()
        );
    }
}
