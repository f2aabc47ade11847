//! Properties over every valid schema: the hash ignores layout, comments and declaration
//! order, changes under semantic mutations, and nothing panics on arbitrary or mangled input.

use crate::*;
use proptest::prelude::*;
use schemac::ast::{self, CompareOp, ExprKind, FieldModifier, Item, Member};
use schemac::format::{format_file, format_source};

/// The valid schemas with the hash each must keep, compiled once.
fn corpus() -> Vec<(String, Priors, String)> {
    valid_schema_files()
        .into_iter()
        .map(|path| {
            let (text, checked) = compile_path(&path);
            let ir = checked.ir.unwrap_or_else(|| panic!("{} must compile", path.display()));
            let priors = priors_in(path.parent().unwrap_or(Path::new(".")));
            (text, priors, schemac::schema_hash(&ir).to_string())
        })
        .collect()
}

fn hash_of(text: &str, priors: &Priors) -> Option<String> {
    schemac::check_source(text, Some(priors)).ir.map(|ir| schemac::schema_hash(&ir).to_string())
}

/// Takes decisions from a proptest-generated list, cycling when it runs out.
struct Decisions<'a> {
    values: &'a [u8],
    position: usize,
}

impl Decisions<'_> {
    fn next(&mut self, bound: usize) -> usize {
        if self.values.is_empty() || bound == 0 {
            return 0;
        }
        let value = self.values[self.position % self.values.len()] as usize;
        self.position += 1;
        value % bound
    }
}

/// Adds whitespace, blank lines and comments to canonical text without changing its tokens.
fn add_noise(canonical: &str, decisions: &mut Decisions) -> String {
    let mut noisy = String::new();
    for line in canonical.lines() {
        match decisions.next(6) {
            0 => noisy.push_str("\n\n"),
            1 => noisy.push_str("// an inserted comment, \"quoted\" and all\n"),
            _ => {}
        }
        noisy.push_str(&" ".repeat(decisions.next(4)));
        let breakable = !line.contains('"') && !line.contains("//");
        if breakable && decisions.next(3) == 0 {
            let mut rebuilt = String::new();
            for (index, word) in line.split(' ').enumerate() {
                if index > 0 {
                    rebuilt.push_str(match decisions.next(3) {
                        0 => "\n        ",
                        1 => "\t ",
                        _ => " ",
                    });
                }
                rebuilt.push_str(word);
            }
            noisy.push_str(&rebuilt);
        } else {
            noisy.push_str(line);
        }
        noisy.push_str(&" ".repeat(decisions.next(3)));
        if !line.trim_start().starts_with("///") && decisions.next(5) == 0 {
            noisy.push_str(" // trailing remark");
        }
        noisy.push('\n');
    }
    noisy
}

/// The same file with its top-level declarations in another order.
fn shuffle_items(text: &str, decisions: &mut Decisions) -> String {
    let file = schemac::parser::parse(text).expect("valid schema parses");
    let mut items: Vec<&str> = file.items.iter().map(|item| &text[item.span()]).collect();
    for index in (1..items.len()).rev() {
        let other = decisions.next(index + 1);
        items.swap(index, other);
    }
    format!("{}\n\n{}\n", &text[file.header_span.clone()], items.join("\n\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn hash_ignores_layout_comments_and_order(decisions in prop::collection::vec(any::<u8>(), 1..256)) {
        for (text, priors, hash) in corpus() {
            let mut decisions = Decisions { values: &decisions, position: 0 };
            let canonical = format_source(&text).expect("valid schema formats");
            let noisy = add_noise(&canonical, &mut decisions);
            prop_assert_eq!(hash_of(&noisy, &priors), Some(hash.clone()), "noise changed the hash:\n{}", noisy);
            let shuffled = shuffle_items(&text, &mut decisions);
            prop_assert_eq!(hash_of(&shuffled, &priors), Some(hash.clone()), "reordering changed the hash:\n{}", shuffled);
            // fmt is idempotent on noisy input too, and lands on the canonical text.
            let formatted = format_source(&noisy).expect("noisy schema formats");
            prop_assert_eq!(format_source(&formatted).ok(), Some(formatted.clone()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = schemac::check_source(&text, Some(&Priors::new()));
        let _ = format_source(&text);
    }

    #[test]
    fn mangled_schemas_never_panic(decisions in prop::collection::vec(any::<u8>(), 1..64)) {
        for (text, priors, _) in corpus() {
            let mut decisions = Decisions { values: &decisions, position: 0 };
            let mut mangled = text.clone().into_bytes();
            for _ in 0..1 + decisions.next(4) {
                if mangled.is_empty() {
                    break;
                }
                let start = decisions.next(mangled.len());
                let length = 1 + decisions.next(12).min(mangled.len() - start - 1 + 1) ;
                let end = (start + length).min(mangled.len());
                match decisions.next(3) {
                    0 => { mangled.drain(start..end); }
                    1 => { let slice: Vec<u8> = mangled[start..end].to_vec(); mangled.splice(start..start, slice); }
                    _ => { let byte = b"(){};,.:=<>\"/ abcxyz?"[decisions.next(21)]; mangled.insert(start, byte); }
                }
            }
            let mangled = String::from_utf8_lossy(&mangled);
            let checked = schemac::check_source(&mangled, Some(&priors));
            if let Ok(formatted) = format_source(&mangled) {
                // Whatever parses formats stably and means the same after formatting.
                prop_assert_eq!(format_source(&formatted).ok(), Some(formatted.clone()));
                let hash = checked.ir.as_ref().map(schemac::schema_hash);
                let reformatted = schemac::check_source(&formatted, Some(&priors));
                prop_assert_eq!(reformatted.ir.as_ref().map(schemac::schema_hash), hash);
            }
        }
    }
}

/// Visits every expression of a file, outermost first.
fn for_each_expr(file: &mut ast::File, visit: &mut dyn FnMut(&mut ast::Expr)) {
    fn walk(expr: &mut ast::Expr, visit: &mut dyn FnMut(&mut ast::Expr)) {
        visit(expr);
        match &mut expr.kind {
            ExprKind::Call { argument, .. } => walk(argument, visit),
            ExprKind::Not(inner) | ExprKind::Paren(inner) => walk(inner, visit),
            ExprKind::And(left, right) | ExprKind::Or(left, right) | ExprKind::Compare { left, right, .. } => {
                walk(left, visit);
                walk(right, visit);
            }
            ExprKind::In { value, options } => {
                walk(value, visit);
                options.iter_mut().for_each(|option| walk(option, visit));
            }
            ExprKind::Exists { condition: Some(condition), .. } => walk(condition, visit),
            _ => {}
        }
    }
    fn fields(field: &mut ast::Field, visit: &mut dyn FnMut(&mut ast::Expr)) {
        for modifier in &mut field.modifiers {
            if let FieldModifier::Default(expr) | FieldModifier::Check(expr) = modifier {
                walk(expr, visit);
            }
        }
    }
    fn collection(decl: &mut ast::CollectionDecl, visit: &mut dyn FnMut(&mut ast::Expr)) {
        for member in &mut decl.members {
            match member {
                Member::Field(field) => fields(field, visit),
                Member::Rule(rule) => walk(&mut rule.condition, visit),
                Member::Collection(nested) => collection(nested, visit),
            }
        }
    }
    for item in &mut file.items {
        match item {
            Item::Collection(decl) => collection(decl, visit),
            Item::Record(decl) => decl.fields.iter_mut().for_each(|field| fields(field, visit)),
            _ => {}
        }
    }
}

fn all_fields(file: &mut ast::File) -> Vec<&mut ast::Field> {
    fn collection<'a>(decl: &'a mut ast::CollectionDecl, out: &mut Vec<&'a mut ast::Field>) {
        for member in &mut decl.members {
            match member {
                Member::Field(field) => out.push(field),
                Member::Collection(nested) => collection(nested, out),
                Member::Rule(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    for item in &mut file.items {
        match item {
            Item::Collection(decl) => collection(decl, &mut out),
            Item::Record(decl) => out.extend(decl.fields.iter_mut()),
            _ => {}
        }
    }
    out
}

/// Applies the `choice`-th semantic mutation at position `target`; false when it does not apply.
fn mutate(file: &mut ast::File, choice: usize, target: usize) -> bool {
    let mut seen = 0;
    let mut changed = false;
    let mut at_target = |expr: &mut ast::Expr, change: &dyn Fn(&mut ast::Expr) -> bool| {
        if !changed && seen >= target && change(expr) {
            changed = true;
        }
        seen += 1;
    };
    match choice {
        0 => for_each_expr(file, &mut |expr| {
            at_target(expr, &|expr| match &mut expr.kind {
                ExprKind::Int(value) => {
                    *value = value.wrapping_add(1);
                    true
                }
                ExprKind::Bool(value) => {
                    *value = !*value;
                    true
                }
                ExprKind::String(value) => {
                    value.push('!');
                    true
                }
                _ => false,
            })
        }),
        1 => for_each_expr(file, &mut |expr| {
            at_target(expr, &|expr| match &mut expr.kind {
                ExprKind::Compare { op, .. } => {
                    *op = match op {
                        CompareOp::Equal => CompareOp::NotEqual,
                        CompareOp::NotEqual => CompareOp::Equal,
                        CompareOp::Less => CompareOp::LessOrEqual,
                        CompareOp::LessOrEqual => CompareOp::Less,
                        CompareOp::Greater => CompareOp::GreaterOrEqual,
                        CompareOp::GreaterOrEqual => CompareOp::Greater,
                    };
                    true
                }
                _ => false,
            })
        }),
        2 => for_each_expr(file, &mut |expr| {
            at_target(expr, &|expr| {
                let kind = std::mem::replace(&mut expr.kind, ExprKind::Null);
                let (swapped, result) = match kind {
                    ExprKind::And(left, right) => (ExprKind::Or(left, right), true),
                    ExprKind::Or(left, right) => (ExprKind::And(left, right), true),
                    other => (other, false),
                };
                expr.kind = swapped;
                result
            })
        }),
        3 => {
            let mut fields = all_fields(file);
            let count = fields.len();
            if let Some(field) = fields.get_mut(target % count.max(1)) {
                let readonly =
                    field.modifiers.iter().position(|modifier| matches!(modifier, FieldModifier::Readonly(_)));
                match readonly {
                    Some(index) => {
                        field.modifiers.remove(index);
                    }
                    None => field.modifiers.push(FieldModifier::Readonly(0..0)),
                }
                changed = true;
            }
        }
        4 => {
            let enums: Vec<&mut ast::EnumDecl> = file
                .items
                .iter_mut()
                .filter_map(|item| match item {
                    Item::Enum(decl) => Some(decl),
                    _ => None,
                })
                .collect();
            let count = enums.len();
            if let Some(decl) = enums.into_iter().nth(target % count.max(1)) {
                decl.variants.push(ast::EnumVariant {
                    docs: ast::Docs::default(),
                    name: ast::Name { text: "added_variant".into(), span: 0..0 },
                });
                changed = true;
            }
        }
        _ => {
            let mut fields = all_fields(file);
            let count = fields.len();
            if let Some(field) = fields.get_mut(target % count.max(1)) {
                field.ty.optional = !field.ty.optional;
                changed = true;
            }
        }
    }
    changed
}

#[test]
fn semantic_mutations_change_the_hash() {
    let mut compared = 0;
    for (text, priors, hash) in corpus() {
        for choice in 0..6 {
            for target in 0..12 {
                let mut file = schemac::parser::parse(&text).expect("valid schema parses");
                if !mutate(&mut file, choice, target * 3) {
                    continue;
                }
                let mutated = format_file(&file, "");
                if let Some(mutated_hash) = hash_of(&mutated, &priors) {
                    assert_ne!(mutated_hash, hash, "mutation {choice}/{target} kept the hash:\n{mutated}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 100, "only {compared} mutations still compiled; the test would prove little");
}
