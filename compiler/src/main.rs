//! The `schemac` command line: reads files, runs the library, prints results.
//!
//! Exit codes: 0 when every input is fine (warnings allowed), 1 when an input has errors (or
//! `fmt --check` found a file to reformat), 2 for usage and I/O errors.

use clap::{Parser, Subcommand, ValueEnum};
use schemac::diagnostics::{Code, Diagnostic, SourceFile};
use schemac::Checked;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "schemac", version, about = "The Cairn schema compiler")]
struct Cli {
    /// How to print diagnostics.
    #[arg(long, value_enum, global = true, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MessageFormat {
    /// rustc-style text, coloured on a terminal.
    Human,
    /// One JSON object per diagnostic per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check schema files and report every error and warning.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A previous version that a migration may upgrade from (in addition to the other
        /// .schema files in the same directory).
        #[arg(long = "prior")]
        priors: Vec<PathBuf>,
    },
    /// Print schema files in canonical layout.
    Fmt {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Rewrite the files in place.
        #[arg(long, conflicts_with = "check")]
        write: bool,
        /// Change nothing; exit 1 and name the files that are not in canonical layout.
        #[arg(long)]
        check: bool,
    },
    /// Print the content hash of a schema: `blake3:<hex>`.
    Hash {
        file: PathBuf,
        /// Also print the canonical encoding the hash is taken over, in hex, on a first line.
        #[arg(long)]
        show_encoding: bool,
        #[arg(long = "prior")]
        priors: Vec<PathBuf>,
    },
    /// Print the checked IR as JSON.
    Ir {
        file: PathBuf,
        #[arg(long = "prior")]
        priors: Vec<PathBuf>,
    },
    /// Explain a diagnostic code, with a wrong and a corrected example.
    Explain { code: String },
    /// Generate code from schema files: `schemac gen rust chat.schema -o src/generated`.
    Gen {
        /// The language to generate.
        language: Language,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write `<schema name>.rs` for each file into this directory (only when its content
        /// changed); without it, print the one file's module.
        #[arg(short = 'o', long = "out-dir")]
        out_dir: Option<PathBuf>,
        /// The path of the `cairn` runtime crate in the generated code.
        #[arg(long, default_value = "::cairn")]
        runtime_path: String,
        #[arg(long = "prior")]
        priors: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Language {
    /// A Rust module for the `cairn` runtime.
    Rust,
}

/// Why a run failed: bad input (exit 1) or a usage or I/O problem (exit 2).
enum Failure {
    InputErrors,
    Usage(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check { files, priors } => check_files(&cli, files, priors),
        Command::Fmt { files, write, check } => format_files(&cli, files, *write, *check),
        Command::Hash { file, priors, show_encoding } => compile_one(&cli, file, priors).map(|ir| {
            if *show_encoding {
                let encoding = schemac::hash::canonical_encoding(&ir);
                println!("{}", encoding.iter().map(|byte| format!("{byte:02x}")).collect::<String>());
            }
            println!("{}", schemac::schema_hash(&ir));
        }),
        Command::Ir { file, priors } => compile_one(&cli, file, priors).and_then(|ir| {
            let json = serde_json::to_string_pretty(&ir).map_err(|error| Failure::Usage(error.to_string()))?;
            println!("{json}");
            Ok(())
        }),
        Command::Gen { language: Language::Rust, files, out_dir, runtime_path, priors } => {
            generate(&cli, files, out_dir.as_deref(), runtime_path, priors)
        }
        Command::Explain { code } => code
            .parse::<Code>()
            .map(|code| print!("{}", schemac::explain::render(code)))
            .map_err(|error| Failure::Usage(error.to_string())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::InputErrors) => ExitCode::from(1),
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| Failure::Usage(format!("cannot read {}: {error}", path.display())))
}

fn print_diagnostics(cli: &Cli, source: &SourceFile, diagnostics: &[Diagnostic]) {
    match cli.message_format {
        MessageFormat::Json => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for diagnostic in diagnostics {
                if let Ok(line) = serde_json::to_string(&source.to_json(diagnostic)) {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        MessageFormat::Human => {
            use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
            let choice = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                ColorChoice::Auto
            } else {
                ColorChoice::Never
            };
            let mut stream = StandardStream::stderr(choice);
            for diagnostic in diagnostics {
                if source.render_to_terminal(&mut stream, diagnostic).is_err() {
                    eprint!("{}", source.render(diagnostic));
                }
            }
        }
    }
}

/// Compiles one file, loading priors only when the file has a migration.
fn compile_file(path: &Path, text: &str, explicit_priors: &[PathBuf]) -> Result<Checked, Failure> {
    schemac::files::compile_text(path, text, explicit_priors).map_err(|error| Failure::Usage(error.to_string()))
}

fn check_files(cli: &Cli, files: &[PathBuf], priors: &[PathBuf]) -> Result<(), Failure> {
    let mut failed = false;
    for path in files {
        let text = read(path)?;
        let checked = compile_file(path, &text, priors)?;
        let name = path.display().to_string();
        let source = SourceFile { name: &name, text: &text };
        print_diagnostics(cli, &source, &checked.diagnostics);
        if checked.ir.is_none() {
            failed = true;
        }
    }
    if failed {
        Err(Failure::InputErrors)
    } else {
        Ok(())
    }
}

fn compile_one(cli: &Cli, path: &Path, priors: &[PathBuf]) -> Result<schemac::ir::Schema, Failure> {
    let text = read(path)?;
    let checked = compile_file(path, &text, priors)?;
    let name = path.display().to_string();
    let source = SourceFile { name: &name, text: &text };
    let errors: Vec<Diagnostic> = checked.diagnostics.into_iter().filter(Diagnostic::is_error).collect();
    print_diagnostics(cli, &source, &errors);
    checked.ir.ok_or(Failure::InputErrors)
}

fn generate(
    cli: &Cli,
    files: &[PathBuf],
    out_dir: Option<&Path>,
    runtime_path: &str,
    priors: &[PathBuf],
) -> Result<(), Failure> {
    if out_dir.is_none() && files.len() > 1 {
        return Err(Failure::Usage("several files need --out-dir".into()));
    }
    let options = schemac::gen::GenOptions { runtime_path: runtime_path.to_owned(), ..Default::default() };
    for path in files {
        let ir = compile_one(cli, path, priors)?;
        let code = schemac::gen::rust(&ir, &options).map_err(|error| {
            // The schema checks, but its names cannot all be Rust names at once: an input error.
            eprintln!("error: {}: {error}", path.display());
            Failure::InputErrors
        })?;
        match out_dir {
            None => print!("{code}"),
            Some(directory) => {
                let target = directory.join(format!("{}.rs", ir.name));
                schemac::build::write_if_changed(&target, &code).map_err(|error| Failure::Usage(error.to_string()))?;
            }
        }
    }
    Ok(())
}

fn format_files(cli: &Cli, files: &[PathBuf], write: bool, check: bool) -> Result<(), Failure> {
    let mut failed = false;
    for path in files {
        let text = read(path)?;
        let formatted = match schemac::format::format_source(&text) {
            Ok(formatted) => formatted,
            Err(diagnostic) => {
                let name = path.display().to_string();
                print_diagnostics(cli, &SourceFile { name: &name, text: &text }, &[diagnostic]);
                failed = true;
                continue;
            }
        };
        if check {
            if formatted != text {
                println!("{}", path.display());
                failed = true;
            }
        } else if write {
            if formatted != text {
                std::fs::write(path, formatted)
                    .map_err(|error| Failure::Usage(format!("cannot write {}: {error}", path.display())))?;
            }
        } else {
            print!("{formatted}");
        }
    }
    if failed {
        Err(Failure::InputErrors)
    } else {
        Ok(())
    }
}
