//! Field merge scenarios on a schema whose rules allow everything, so only merging is tested.

use crate::*;

const SCHEMA: &str = r#"
schema merges;

collection Item {
    title: string check (len(title) >= 1),
    tags: set<string>,
    labels: map<string, string>,
    votes: counter,
    steps: list<string>,
    note: string?,

    allow insert, update, delete if true;

    collection Part {
        name: string,
        allow insert, update, delete if true;
    }
}

collection Setting {
    value: int,
    allow insert, update if op.author = db.founder;
}
"#;

struct Items {
    sim: Sim,
    left: Keypair,
    right: Keypair,
    item: RowId,
    created: OpHash,
}

impl Items {
    fn new() -> Items {
        let mut sim = Sim::new(SCHEMA);
        let (left, right) = (sim.key(), sim.key());
        let founder = sim.founder.clone();
        let created = sim.op(
            &founder,
            &[],
            vec![insert("Item", &[("title", text("first")), ("tags", Value::Array(vec![text("a")]))])],
        );
        Items { item: sim.row(created), sim, left, right, created }
    }
}

#[test]
fn s17_concurrent_writes_at_one_depth_are_ordered_by_op_hash() {
    let mut items = Items::new();
    let (left, right, item, created) = (items.left.clone(), items.right.clone(), items.item, items.created);
    let one = items.sim.op(&left, &[created], vec![set("Item", item, "title", text("left"))]);
    let two = items.sim.op(&right, &[created], vec![set("Item", item, "title", text("right"))]);
    let winner = if one > two { "left" } else { "right" };
    assert_eq!(items.sim.field(item, "title"), Some(text(winner)));
}

#[test]
fn s18_a_deeper_concurrent_write_wins_whatever_its_hash() {
    let mut items = Items::new();
    let (left, right, item, created) = (items.left.clone(), items.right.clone(), items.item, items.created);
    let shallow = items.sim.op(&left, &[created], vec![set("Item", item, "note", text("shallow"))]);
    let step = items.sim.op(&right, &[created], vec![set("Item", item, "steps", Value::Array(vec![text("one")]))]);
    let deep = items.sim.op(&right, &[step], vec![set("Item", item, "note", text("deep"))]);
    assert!(items.sim.history().effectiveness().values().all(|effective| *effective));
    assert_eq!(items.sim.field(item, "note"), Some(text("deep")), "depth first: {shallow} vs {deep}");
}

#[test]
fn s19_a_remove_undoes_only_the_adds_it_has_seen() {
    let mut items = Items::new();
    let (left, right, item, created) = (items.left.clone(), items.right.clone(), items.item, items.created);
    let add_seen = items.sim.op(
        &left,
        &[created],
        vec![edit("Item", item, vec![Edit::Add { field: "tags".into(), elements: vec![text("b")] }])],
    );
    let add_unseen = items.sim.op(
        &right,
        &[created],
        vec![edit("Item", item, vec![Edit::Add { field: "tags".into(), elements: vec![text("b")] }])],
    );
    let remove = items.sim.op(
        &left,
        &[add_seen],
        vec![edit("Item", item, vec![Edit::Remove { field: "tags".into(), elements: vec![text("b"), text("a")] }])],
    );
    // "a" was added by the insert, which the remove saw; "b" survives through the unseen add.
    assert_eq!(items.sim.field(item, "tags"), Some(Value::Array(vec![text("b")])), "{add_unseen} {remove}");
}

#[test]
fn s20_counters_add_concurrent_increments() {
    let mut items = Items::new();
    let (left, right, item, created) = (items.left.clone(), items.right.clone(), items.item, items.created);
    items.sim.op(
        &left,
        &[created],
        vec![edit("Item", item, vec![Edit::Increment { field: "votes".into(), amount: 2 }])],
    );
    items.sim.op(
        &right,
        &[created],
        vec![edit("Item", item, vec![Edit::Increment { field: "votes".into(), amount: 5 }])],
    );
    items.sim.op(&right, &[], vec![edit("Item", item, vec![Edit::Increment { field: "votes".into(), amount: -1 }])]);
    assert_eq!(items.sim.field(item, "votes"), Some(Value::Int(6)));
}

#[test]
fn s21_map_keys_are_independent_registers() {
    let mut items = Items::new();
    let (left, right, item, created) = (items.left.clone(), items.right.clone(), items.item, items.created);
    let put = |key: &str, value: &str| Edit::Put { field: "labels".into(), key: key.into(), value: text(value) };
    let first = items.sim.op(&left, &[created], vec![edit("Item", item, vec![put("colour", "red"), put("size", "m")])]);
    items.sim.op(&right, &[created], vec![edit("Item", item, vec![put("shape", "round")])]);
    items.sim.op(
        &left,
        &[first],
        vec![edit("Item", item, vec![Edit::Unset { field: "labels".into(), key: "size".into() }])],
    );
    let expected = Value::Map(vec![("colour".into(), text("red")), ("shape".into(), text("round"))]);
    assert_eq!(items.sim.field(item, "labels"), Some(expected));
}

#[test]
fn s22_nested_rows_vanish_with_their_parent() {
    let mut items = Items::new();
    let (left, item, created) = (items.left.clone(), items.item, items.created);
    let part_op =
        items.sim.op(&left, &[created], vec![insert("Part", &[("parent", reference(item)), ("name", text("wheel"))])]);
    let part = items.sim.row(part_op);
    assert!(items.sim.field(part, "name").is_some());
    items.sim.op(&left, &[part_op], vec![delete("Item", item)]);
    assert!(items.sim.field(part, "name").is_none());
    assert_eq!(items.sim.history().state().rows("Part").len(), 0);
}

#[test]
fn s23_db_founder_names_the_creator_of_the_database() {
    let mut items = Items::new();
    let (left, founder) = (items.left.clone(), items.sim.founder.clone());
    let by_founder = items.sim.op(&founder, &[], vec![insert("Setting", &[("value", Value::Int(1))])]);
    let by_other = items.sim.op(&left, &[by_founder], vec![insert("Setting", &[("value", Value::Int(2))])]);
    assert_eq!(effectiveness(&items.sim, &[by_founder, by_other]), [true, false]);
}

#[test]
fn s24_the_state_does_not_depend_on_the_order_ops_are_given_in() {
    let mut items = Items::new();
    let (left, right, item, created) = (items.left.clone(), items.right.clone(), items.item, items.created);
    for round in 0..4 {
        let author = if round % 2 == 0 { &left } else { &right };
        items.sim.op(author, &[created], vec![set("Item", item, "title", text(&format!("title {round}")))]);
    }
    let mut ops = items.sim.partial(&items.sim.history().effectiveness().keys().copied().collect::<Vec<_>>());
    let digest = History::new(&items.sim.schema, &items.sim.suite, &ops).expect("history").state().digest();
    ops.reverse();
    let reversed = History::new(&items.sim.schema, &items.sim.suite, &ops).expect("history").state().digest();
    assert_eq!(digest, reversed);
}

#[test]
fn s26_checks_hold_on_the_row_after_every_change() {
    let mut items = Items::new();
    let (left, item, created) = (items.left.clone(), items.item, items.created);
    let emptied = items.sim.op(&left, &[created], vec![set("Item", item, "title", text(""))]);
    assert!(!items.sim.effective(emptied));
    assert_eq!(items.sim.field(item, "title"), Some(text("first")));
}

#[test]
fn s27_a_remove_sees_the_adds_of_its_own_op() {
    let mut items = Items::new();
    let (left, item, created) = (items.left.clone(), items.item, items.created);
    items.sim.op(
        &left,
        &[created],
        vec![edit(
            "Item",
            item,
            vec![
                Edit::Add { field: "tags".into(), elements: vec![text("temp")] },
                Edit::Remove { field: "tags".into(), elements: vec![text("temp")] },
            ],
        )],
    );
    assert_eq!(items.sim.field(item, "tags"), Some(Value::Array(vec![text("a")])));
    // A list left out of an insert is empty, not null.
    assert_eq!(items.sim.field(item, "steps"), Some(Value::Array(vec![])));
}
