//! Random histories on the other example schemas, for the engine's agreement tests: the task
//! board (delegated grants, several rules per action, `not exists`, every merge type) and the
//! editor (collections nested two deep, whose rows vanish with their parents).

use crate::*;
use cairn::op::Edit;

/// Picks from a stream of choices.
pub struct Picker<'a> {
    choices: std::iter::Cycle<std::slice::Iter<'a, u8>>,
}

impl<'a> Picker<'a> {
    pub fn new(choices: &'a [u8]) -> Picker<'a> {
        Picker { choices: choices.iter().cycle() }
    }

    pub fn below(&mut self, bound: usize) -> usize {
        self.choices.next().copied().unwrap_or(0) as usize % bound.max(1)
    }

    pub fn one<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// One or two earlier ops to write on top of.
    pub fn parents(&mut self, ops: &[OpHash]) -> Vec<OpHash> {
        (0..1 + self.below(2)).map(|_| *self.one(ops)).collect()
    }
}

fn text_value(value: &str) -> Value {
    Value::Text(value.to_owned())
}

/// A task board history: the founder's board, grants handed out and taken back by whoever
/// holds `admin`, tasks created, edited in every field type, and deleted.
pub fn taskboard_history(choices: &[u8]) -> Sim {
    let mut sim = Sim::new(include_str!("../../../schemas/taskboard.schema"));
    let founder = sim.founder.clone();
    let mut people = vec![founder.clone(), sim.key(), sim.key(), sim.key()];
    let board_op = sim.op(
        &founder,
        &[],
        vec![insert(
            "Board",
            &[("title", text_value("plans")), ("owner", id(&founder)), ("archived", Value::Bool(false))],
        )],
    );
    let board = sim.row(board_op);
    let mut ops = vec![board_op];
    let mut grants: Vec<RowId> = Vec::new();
    let mut tasks: Vec<RowId> = Vec::new();
    let mut pick = Picker::new(choices);
    let grant = |author: &Keypair, grantee: &Keypair, capability: &str| {
        insert(
            "Grant",
            &[
                ("board", reference(board)),
                ("grantee", id(grantee)),
                ("capability", text_value(capability)),
                ("granted_by", id(author)),
                ("note", text_value("")),
            ],
        )
    };
    let setup =
        sim.op(&founder, &[board_op], vec![grant(&founder, &people[1], "admin"), grant(&founder, &people[2], "edit")]);
    grants.extend([cairn::op::row_id(&sim.suite, &setup, 0), cairn::op::row_id(&sim.suite, &setup, 1)]);
    ops.push(setup);
    for _ in 0..choices.len().min(10) {
        let author = pick.one(&people).clone();
        let parents = pick.parents(&ops);
        let change = match pick.below(9) {
            0 => {
                if pick.below(4) == 0 {
                    people.push(sim.key());
                }
                let grantee = pick.one(&people).clone();
                let capability = ["view", "edit", "assign", "admin"][pick.below(4)];
                grant(&author, &grantee, capability)
            }
            1 if !grants.is_empty() => delete("Grant", *pick.one(&grants)),
            2..=3 => insert(
                "Task",
                &[
                    ("board", reference(board)),
                    ("created_by", id(&author)),
                    ("title", text_value("task")),
                    ("notes", text_value("")),
                    ("status", text_value("todo")),
                    ("priority", Value::Int(0)),
                    ("progress", Value::Float(0.0)),
                ],
            ),
            4..=6 if !tasks.is_empty() => {
                let task = *pick.one(&tasks);
                let someone = id(pick.one(&people));
                let edit = match pick.below(8) {
                    0 => Edit::Set {
                        field: "status".into(),
                        value: text_value(["todo", "doing", "done"][pick.below(3)]),
                    },
                    1 => Edit::Put {
                        field: "labels".into(),
                        key: pick.one(&["area", "team"]).to_string(),
                        value: text_value("x"),
                    },
                    2 => Edit::Unset { field: "labels".into(), key: "area".into() },
                    3 => Edit::Add { field: "watchers".into(), elements: vec![someone] },
                    4 => Edit::Remove { field: "watchers".into(), elements: vec![someone] },
                    5 => Edit::Increment { field: "votes".into(), amount: 1 + pick.below(3) as i64 },
                    6 => Edit::Set { field: "assignee".into(), value: id(&author) },
                    _ => Edit::Set {
                        field: "checklist".into(),
                        value: Value::Array(vec![text_value("step"); pick.below(3)]),
                    },
                };
                edit_change("Task", task, vec![edit])
            }
            7 if !tasks.is_empty() => delete("Task", *pick.one(&tasks)),
            _ => {
                if pick.below(3) == 0 {
                    delete("Board", board)
                } else {
                    set("Board", board, "title", text_value(["plans", "roadmap"][pick.below(2)]))
                }
            }
        };
        let inserted = matches!(&change, Change::Insert { collection, .. } if collection == "Task");
        let granted = matches!(&change, Change::Insert { collection, .. } if collection == "Grant");
        let op = sim.op(&author, &parents, vec![change]);
        if inserted {
            tasks.push(sim.row(op));
        }
        if granted {
            grants.push(sim.row(op));
        }
        ops.push(op);
    }
    sim
}

fn edit_change(collection: &str, row: RowId, edits: Vec<Edit>) -> Change {
    Change::Update { collection: collection.into(), row, edits }
}

/// An editor history: a document with sections and paragraphs (nested rows), collaborators
/// invited and demoted, text edited, sections deleted (their paragraphs vanish with them), the
/// document locked and unlocked.
pub fn editor_history(choices: &[u8]) -> Sim {
    let mut sim = Sim::new(include_str!("../../../schemas/editor_v1.schema"));
    let founder = sim.founder.clone();
    let mut people = vec![founder.clone(), sim.key(), sim.key()];
    let document_op = sim.op(
        &founder,
        &[],
        vec![insert(
            "Document",
            &[
                ("title", text_value("notes")),
                ("owner", id(&founder)),
                ("font_size", Value::Int(12)),
                ("locked", Value::Bool(false)),
            ],
        )],
    );
    let document = sim.row(document_op);
    let section_op = sim.op(
        &founder,
        &[document_op],
        vec![insert(
            "Section",
            &[("parent", reference(document)), ("heading", text_value("one")), ("position", Value::Int(0))],
        )],
    );
    let mut sections = vec![sim.row(section_op)];
    let invite = |user: &Keypair, role: &str| {
        insert(
            "Collaborator",
            &[
                ("document", reference(document)),
                ("user", id(user)),
                ("role", text_value(role)),
                ("invited_by", id(&founder)),
            ],
        )
    };
    let paragraph = |section: RowId| {
        insert(
            "Paragraph",
            &[
                ("parent", reference(section)),
                ("kind", text_value("normal")),
                ("text", text_value("words")),
                ("position", Value::Int(0)),
                ("word_count", Value::Int(1)),
            ],
        )
    };
    // A manager and a writer, and a first paragraph.
    let setup = sim.op(
        &founder,
        &[section_op],
        vec![invite(&people[1], "manager"), invite(&people[2], "writer"), paragraph(sections[0])],
    );
    let mut collaborators: Vec<RowId> = (0..2).map(|index| cairn::op::row_id(&sim.suite, &setup, index)).collect();
    let mut paragraphs = vec![cairn::op::row_id(&sim.suite, &setup, 2)];
    let mut ops = vec![document_op, section_op, setup];
    let mut pick = Picker::new(choices);
    for _ in 0..choices.len().min(10) {
        let author = pick.one(&people).clone();
        let parents = pick.parents(&ops);
        let role = *pick.one(&["viewer", "commenter", "writer", "manager"]);
        let change = match pick.below(9) {
            0 => {
                if pick.below(3) == 0 {
                    people.push(sim.key());
                }
                let user = pick.one(&people).clone();
                let mut change = invite(&user, role);
                if let Change::Insert { fields, .. } = &mut change {
                    fields.retain(|(name, _)| name != "invited_by");
                    fields.push(("invited_by".into(), id(&author)));
                }
                change
            }
            1 if !collaborators.is_empty() => set("Collaborator", *pick.one(&collaborators), "role", text_value(role)),
            2 => insert(
                "Section",
                &[("parent", reference(document)), ("heading", text_value("more")), ("position", Value::Int(1))],
            ),
            3..=4 => paragraph(*pick.one(&sections)),
            5 if !paragraphs.is_empty() => set("Paragraph", *pick.one(&paragraphs), "text", text_value("edited")),
            6 => delete("Section", *pick.one(&sections)),
            7 => set("Document", document, "locked", Value::Bool(pick.below(2) == 0)),
            _ => {
                if !collaborators.is_empty() && pick.below(2) == 0 {
                    delete("Collaborator", *pick.one(&collaborators))
                } else {
                    set("Document", document, "title", text_value("renamed"))
                }
            }
        };
        let kind = match &change {
            Change::Insert { collection, .. } => collection.clone(),
            _ => String::new(),
        };
        let op = sim.op(&author, &parents, vec![change]);
        match kind.as_str() {
            "Section" => sections.push(sim.row(op)),
            "Paragraph" => paragraphs.push(sim.row(op)),
            "Collaborator" => collaborators.push(sim.row(op)),
            _ => {}
        }
        ops.push(op);
    }
    sim
}
