//! The compiled `check` constraints agree exactly with the runtime's interpreter: random rows of
//! every checked collection of every schema (values of the field's type, nulls, lengths around
//! the bounds the checks name) give the same first failing field both ways.

use cairn::{Projection, Row, RowId, Value};
use cairn_tests::{chat, corners, editor, taskboard};
use proptest::prelude::*;
use schemac::ir::{self, Type};
use std::collections::BTreeMap;

/// Strings of lengths around the bounds checks use, with multibyte characters (len counts
/// characters, not bytes).
fn text() -> BoxedStrategy<String> {
    let length = prop_oneof![0usize..4, 60usize..68, 195usize..205, 495usize..505, 1_995usize..2_005];
    (length, any::<bool>())
        .prop_map(|(length, wide)| if wide { "é".repeat(length) } else { "a".repeat(length) })
        .boxed()
}

fn value(schema: &ir::Schema, ty: &Type) -> BoxedStrategy<Value> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Int | Type::Counter | Type::Timestamp => {
            prop_oneof![-3i64..12, Just(i64::MIN), Just(i64::MAX), any::<i64>()].prop_map(Value::Int).boxed()
        }
        Type::Float => prop_oneof![
            -1.0f64..2.0,
            Just(0.0),
            Just(-0.0),
            Just(1.0),
            Just(-0.25),
            Just(6.0),
            Just(96.0),
            Just(2.5e3),
            -1e6f64..1e6,
        ]
        .prop_map(Value::Float)
        .boxed(),
        Type::String => text().prop_map(Value::Text).boxed(),
        Type::Bytes => prop_oneof![Just(0usize), 1usize..4].prop_map(|length| Value::Bytes(vec![7; length])).boxed(),
        Type::Identity | Type::Ref(_) => any::<[u8; 32]>().prop_map(|bytes| Value::Bytes(bytes.to_vec())).boxed(),
        Type::Enum(name) => {
            let variants = schema.enums[name].variants.clone();
            proptest::sample::select(variants).prop_map(Value::Text).boxed()
        }
        Type::Record(name) => {
            let fields: Vec<(String, BoxedStrategy<Value>)> = schema.records[name]
                .fields
                .iter()
                .map(|field| (field.name.clone(), value(schema, &field.ty)))
                .collect();
            let (names, strategies): (Vec<String>, Vec<BoxedStrategy<Value>>) = fields.into_iter().unzip();
            strategies.prop_map(move |values| Value::Map(names.iter().cloned().zip(values).collect())).boxed()
        }
        Type::Optional(inner) => prop_oneof![1 => Just(Value::Null), 3 => value(schema, inner)].boxed(),
        Type::List(inner) | Type::Set(inner) => {
            let set = matches!(ty, Type::Set(_));
            let count = prop_oneof![0usize..4, 18usize..23, 98usize..103];
            (count, value(schema, inner))
                .prop_map(move |(count, element)| {
                    let elements = vec![element; count];
                    if set {
                        Value::set(elements)
                    } else {
                        Value::Array(elements)
                    }
                })
                .boxed()
        }
        Type::Map(inner) => (prop_oneof![0usize..4, 18usize..23], value(schema, inner))
            .prop_map(|(count, entry)| {
                Value::Map((0..count).map(|key| (format!("k{key:03}"), entry.clone())).collect())
            })
            .boxed(),
    }
}

/// A random full row of `collection`.
fn row(schema: &ir::Schema, collection: &str) -> BoxedStrategy<Row> {
    let fields = &schema.collections[collection].fields;
    let names: Vec<String> = fields.iter().map(|field| field.name.clone()).collect();
    let strategies: Vec<BoxedStrategy<Value>> = fields.iter().map(|field| value(schema, &field.ty)).collect();
    let collection = collection.to_owned();
    (strategies, any::<[u8; 32]>())
        .prop_map(move |(values, id)| Row {
            id: RowId(id),
            collection: collection.clone(),
            fields: names.iter().cloned().zip(values).collect::<BTreeMap<_, _>>(),
        })
        .boxed()
}

/// The interpreter's verdict: the first field (in schema order) whose check fails.
fn interpreted(schema: &ir::Schema, row: &Row) -> Result<(), String> {
    for field in &schema.collections[&row.collection].fields {
        if let Some(check) = &field.check {
            let known = |name: &str| row.fields.get(name);
            if cairn::evaluate_check(check, &known) != Some(true) {
                return Err(field.name.clone());
            }
        }
    }
    Ok(())
}

/// Runs `cases` random rows of `P`'s collection through both.
fn agree<P: Projection + std::fmt::Debug>(schema: &ir::Schema, check: impl Fn(&P) -> Result<(), &'static str>) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 400, ..ProptestConfig::default() });
    runner
        .run(&row(schema, P::COLLECTION), |row| {
            let typed = P::from_row(&row).expect("a random row of the schema reads into its struct");
            let compiled = check(&typed).map_err(str::to_owned);
            prop_assert_eq!(compiled, interpreted(schema, &row), "{:?}", typed);
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{}: {failure}", P::COLLECTION));
}

#[test]
fn compiled_checks_agree_with_the_interpreter() {
    let schema = chat::schema().expect("chat");
    agree(&schema, chat::Channel::check);
    agree(&schema, chat::Message::check);
    let schema = taskboard::schema().expect("taskboard");
    agree(&schema, taskboard::Board::check);
    agree(&schema, taskboard::Grant::check);
    agree(&schema, taskboard::Milestone::check);
    agree(&schema, taskboard::Task::check);
    agree(&schema, taskboard::Attachment::check);
    let schema = editor::schema().expect("editor");
    agree(&schema, editor::Document::check);
    agree(&schema, editor::Section::check);
    agree(&schema, editor::Paragraph::check);
    agree(&schema, editor::Comment::check);
    agree(&schema, editor::Suggestion::check);
    let schema = corners::checks::schema().expect("checks");
    agree(&schema, corners::checks::Item::check);
    let schema = corners::literals::schema().expect("literals");
    agree(&schema, corners::literals::Setting::check);
    let schema = corners::expressions::schema().expect("expressions");
    agree(&schema, corners::expressions::Document::check);
    let schema = corners::nesting::schema().expect("nesting");
    agree(&schema, corners::nesting::Project::check);
}
