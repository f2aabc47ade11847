//! The canonical layout that `schemac fmt` prints.
//!
//! The layout is a function of the AST alone (never of the original whitespace), which makes
//! formatting idempotent. Comments are not in the AST, so the formatter scans them from the
//! source and re-attaches each one to the line-level node it precedes or trails. A comment
//! written inside a multi-line expression moves above that expression's rule; none is dropped.
//! Top-level declarations keep the order the author chose.

use crate::ast::*;
use crate::diagnostics::Diagnostic;

/// The column limit that decides when a rule or an enum breaks over several lines.
const MAX_WIDTH: usize = 100;
const INDENT: usize = 4;

/// Formats `source`, or returns the syntax error that prevents it.
pub fn format_source(source: &str) -> Result<String, Diagnostic> {
    let file = crate::parser::parse(source)?;
    Ok(format_file(&file, source))
}

/// Prints a parsed file in canonical layout, with the comments found in `source`.
pub fn format_file(file: &File, source: &str) -> String {
    let mut printer =
        Printer { source, comments: scan_comments(source), next_comment: 0, out: String::new(), indent: 0 };
    printer.file(file);
    printer.out
}

/// A `//` comment (not a `///` doc comment) in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub span: Span,
    /// The text from the slashes to the end of the line, right-trimmed.
    pub text: String,
}

/// Every `//` comment outside string literals, in source order. `///` doc comments are part of
/// the AST and are skipped here; `////` and longer are plain comments.
pub fn scan_comments(source: &str) -> Vec<Comment> {
    let bytes = source.as_bytes();
    let mut comments = Vec::new();
    let mut index = 0;
    let mut in_string = false;
    while index < bytes.len() {
        let byte = bytes[index];
        if in_string {
            match byte {
                b'\\' => index += 1,
                b'"' | b'\n' => in_string = false,
                _ => {}
            }
            index += 1;
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'/' if bytes.get(index + 1) == Some(&b'/') => {
                let end = source[index..].find('\n').map_or(source.len(), |offset| index + offset);
                let is_doc = source[index..end].starts_with("///") && !source[index..end].starts_with("////");
                if !is_doc {
                    comments.push(Comment { span: index..end, text: source[index..end].trim_end().to_owned() });
                }
                index = end;
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    comments
}

struct Printer<'a> {
    source: &'a str,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
    indent: usize,
}

impl Printer<'_> {
    fn line(&mut self, text: &str) {
        if text.is_empty() {
            self.out.push('\n');
            return;
        }
        self.out.extend(std::iter::repeat_n(' ', self.indent));
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Prints every comment that starts before `position` on its own line.
    fn leading_comments(&mut self, position: usize) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= position {
                break;
            }
            let text = comment.text.clone();
            self.line(&text);
            self.next_comment += 1;
        }
    }

    /// Appends the comment that follows `end` on the same source line, if there is one.
    fn trailing_comment(&mut self, end: usize) {
        let Some(comment) = self.comments.get(self.next_comment) else {
            return;
        };
        let between = self.source.get(end..comment.span.start).unwrap_or("\n");
        if comment.span.start >= end && !between.contains('\n') {
            let text = comment.text.clone();
            if self.out.ends_with('\n') {
                self.out.pop();
            }
            self.out.push(' ');
            self.out.push_str(&text);
            self.out.push('\n');
            self.next_comment += 1;
        }
    }

    /// Whether the source has a blank line between `end` and the next thing at or after `start`
    /// (counting comments in between as part of what comes next).
    fn blank_line_between(&self, end: usize, start: usize) -> bool {
        let next_start =
            self.comments.get(self.next_comment).map_or(start, |comment| comment.span.start.min(start)).max(end);
        self.source.get(end..next_start).is_some_and(|gap| gap.matches('\n').count() >= 2)
    }

    fn has_comment_within(&self, span: &Span) -> bool {
        self.comments[self.next_comment..]
            .iter()
            .any(|comment| comment.span.start >= span.start && comment.span.start < span.end)
    }

    fn docs(&mut self, docs: &Docs) {
        for line in &docs.lines {
            if line.is_empty() {
                self.line("///");
            } else {
                self.line(&format!("/// {line}"));
            }
        }
    }

    fn file(&mut self, file: &File) {
        self.leading_comments(file.header_span.start);
        self.docs(&file.docs);
        self.line(&format!("schema {};", file.name.text));
        self.trailing_comment(file.header_span.end);
        for item in &file.items {
            self.blank_line();
            self.leading_comments(item.span().start);
            match item {
                Item::Enum(decl) => self.enum_decl(decl),
                Item::Record(decl) => self.record_decl(decl),
                Item::Collection(decl) => self.collection_decl(decl),
                Item::Migration(decl) => self.migration(decl),
            }
        }
        if self.next_comment < self.comments.len() {
            self.blank_line();
            self.leading_comments(usize::MAX);
        }
    }

    fn enum_decl(&mut self, decl: &EnumDecl) {
        self.docs(&decl.docs);
        let names: Vec<&str> = decl.variants.iter().map(|variant| variant.name.text.as_str()).collect();
        let one_line = format!("enum {} {{ {} }}", decl.name.text, names.join(", "));
        let variants_have_docs = decl.variants.iter().any(|variant| !variant.docs.lines.is_empty());
        let fits = self.indent + one_line.len() <= MAX_WIDTH;
        if decl.variants.is_empty() {
            self.line(&format!("enum {} {{}}", decl.name.text));
        } else if fits && !variants_have_docs && !self.has_comment_within(&decl.span) {
            self.line(&one_line);
        } else {
            self.line(&format!("enum {} {{", decl.name.text));
            self.indent += INDENT;
            for variant in &decl.variants {
                self.leading_comments(variant.name.span.start);
                self.docs(&variant.docs);
                self.line(&format!("{},", variant.name.text));
                self.trailing_comment(variant.name.span.end);
            }
            self.leading_comments(decl.span.end.saturating_sub(1));
            self.indent -= INDENT;
            self.line("}");
        }
        self.trailing_comment(decl.span.end);
    }

    fn record_decl(&mut self, decl: &RecordDecl) {
        self.docs(&decl.docs);
        self.line(&format!("type {} {{", decl.name.text));
        self.indent += INDENT;
        let mut previous_end = None;
        for field in &decl.fields {
            self.member_gap(previous_end, field.span.start);
            self.field(field);
            previous_end = Some(field.span.end);
        }
        self.leading_comments(decl.span.end.saturating_sub(1));
        self.indent -= INDENT;
        self.line("}");
        self.trailing_comment(decl.span.end);
    }

    /// Keeps one blank line between members where the author left at least one.
    fn member_gap(&mut self, previous_end: Option<usize>, start: usize) {
        if let Some(end) = previous_end {
            if self.blank_line_between(end, start) {
                self.blank_line();
            }
        }
        self.leading_comments(start);
    }

    fn collection_decl(&mut self, decl: &CollectionDecl) {
        self.docs(&decl.docs);
        self.line(&format!("collection {} {{", decl.name.text));
        self.indent += INDENT;
        let mut previous_end = None;
        for member in &decl.members {
            let span = member.span();
            self.member_gap(previous_end, span.start);
            match member {
                Member::Field(field) => self.field(field),
                Member::Rule(rule) => self.rule(rule),
                Member::Collection(nested) => self.collection_decl(nested),
            }
            previous_end = Some(span.end);
        }
        self.leading_comments(decl.span.end.saturating_sub(1));
        self.indent -= INDENT;
        self.line("}");
        self.trailing_comment(decl.span.end);
    }

    fn field(&mut self, field: &Field) {
        self.docs(&field.docs);
        let mut text = format!("{}: {}", field.name.text, type_text(&field.ty));
        let readonly = field.modifiers.iter().any(|modifier| matches!(modifier, FieldModifier::Readonly(_)));
        if readonly {
            text.push_str(" readonly");
        }
        if field.modifiers.iter().any(|modifier| matches!(modifier, FieldModifier::Indexed(_))) {
            text.push_str(" indexed");
        }
        for modifier in &field.modifiers {
            if let FieldModifier::Default(expr) = modifier {
                text.push_str(&format!(" default {}", expr_text(expr)));
            }
        }
        for modifier in &field.modifiers {
            if let FieldModifier::Check(expr) = modifier {
                text.push_str(&format!(" check ({})", expr_text(expr)));
            }
        }
        text.push(',');
        self.line(&text);
        self.trailing_comment(field.span.end);
    }

    fn rule(&mut self, rule: &Rule) {
        self.docs(&rule.docs);
        // Comments inside a multi-line rule have no line of their own after formatting.
        self.leading_comments(rule.span.end);
        let actions: Vec<String> = rule.actions.iter().map(action_text).collect();
        let head = format!("allow {} if", actions.join(", "));
        let flat = format!("{head} {};", expr_text(&rule.condition));
        if self.indent + flat.len() <= MAX_WIDTH {
            self.line(&flat);
        } else {
            self.line(&head);
            let lines = layout(&rule.condition, self.indent + INDENT);
            let count = lines.len();
            for (index, (extra_indent, text)) in lines.into_iter().enumerate() {
                let terminator = if index + 1 == count { ";" } else { "" };
                self.indent += INDENT + extra_indent;
                self.line(&format!("{text}{terminator}"));
                self.indent -= INDENT + extra_indent;
            }
        }
        self.trailing_comment(rule.span.end);
    }

    fn migration(&mut self, decl: &MigrationDecl) {
        self.docs(&decl.docs);
        self.line(&format!("migrate from {} {{", quote(&decl.from)));
        self.indent += INDENT;
        for step in &decl.steps {
            self.leading_comments(step.span.start);
            let text = match &step.kind {
                MigrationStepKind::Add { target, value: Some(value) } => {
                    format!("add {} = {};", qualified(target), expr_text(value))
                }
                MigrationStepKind::Add { target, value: None } => format!("add {};", qualified(target)),
                MigrationStepKind::Set { target, value } => {
                    format!("set {} = {};", qualified(target), expr_text(value))
                }
                MigrationStepKind::Rename { target, new_name } => {
                    format!("rename {} to {};", qualified(target), new_name.text)
                }
                MigrationStepKind::Drop { target } => format!("drop {};", qualified(target)),
            };
            self.line(&text);
            // The step's span ends before its `;`, which the comment follows.
            self.trailing_comment(step.span.end);
        }
        self.leading_comments(decl.span.end.saturating_sub(1));
        self.indent -= INDENT;
        self.line("}");
        self.trailing_comment(decl.span.end);
    }
}

fn qualified(name: &QualifiedName) -> String {
    match &name.field {
        Some(field) => format!("{}.{}", name.collection.text, field.text),
        None => name.collection.text.clone(),
    }
}

fn action_text(action: &Action) -> String {
    match &action.kind {
        ActionKind::Insert => "insert".to_owned(),
        ActionKind::Delete => "delete".to_owned(),
        ActionKind::Update(None) => "update".to_owned(),
        ActionKind::Update(Some(fields)) => {
            let names: Vec<&str> = fields.iter().map(|field| field.text.as_str()).collect();
            format!("update({})", names.join(", "))
        }
    }
}

/// A type as written in canonical form.
pub fn type_text(ty: &TypeExpr) -> String {
    let base = match &ty.kind {
        TypeExprKind::Named(name) => name.text.clone(),
        TypeExprKind::Ref(name) => format!("ref {}", name.text),
        TypeExprKind::List(element) => format!("list<{}>", type_text(element)),
        TypeExprKind::Set(element) => format!("set<{}>", type_text(element)),
        TypeExprKind::Map(key, value) => format!("map<{}, {}>", type_text(key), type_text(value)),
    };
    if ty.optional {
        format!("{base}?")
    } else {
        base
    }
}

/// A string literal with the escapes the grammar reads back.
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            control if control.is_control() => quoted.push_str(&format!("\\u{{{:x}}}", control as u32)),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

/// A float literal that reads back as the same value, in the grammar's form: scientific
/// notation (`6.02e23`) for very large and very small magnitudes.
fn float_text(value: f64) -> String {
    let magnitude = value.abs();
    let scientific = magnitude != 0.0 && !(1e-5..1e16).contains(&magnitude);
    let text = if scientific { format!("{value:e}") } else { format!("{value}") };
    match text.split_once('e') {
        Some((mantissa, exponent)) if !mantissa.contains('.') => format!("{mantissa}.0e{exponent}"),
        Some(_) => text,
        None if text.contains('.') => text,
        None => format!("{text}.0"),
    }
}

/// An expression on one line, exactly as parsed (parentheses included).
pub fn expr_text(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Bool(value) => value.to_string(),
        ExprKind::Int(value) => value.to_string(),
        ExprKind::Float(value) => float_text(*value),
        ExprKind::String(value) => quote(value),
        ExprKind::Null => "null".to_owned(),
        ExprKind::Path(segments) => segments.iter().map(|segment| segment.text.as_str()).collect::<Vec<_>>().join("."),
        ExprKind::Call { function, argument } => {
            format!("{}({})", function.text, expr_text(argument))
        }
        ExprKind::Not(operand) => format!("not {}", expr_text(operand)),
        ExprKind::And(left, right) => format!("{} and {}", expr_text(left), expr_text(right)),
        ExprKind::Or(left, right) => format!("{} or {}", expr_text(left), expr_text(right)),
        ExprKind::Compare { op, left, right } => {
            format!("{} {} {}", expr_text(left), op.symbol(), expr_text(right))
        }
        ExprKind::In { value, options } => {
            let options: Vec<String> = options.iter().map(expr_text).collect();
            format!("{} in ({})", expr_text(value), options.join(", "))
        }
        ExprKind::Exists { collection, variable, condition } => match condition {
            Some(condition) => format!("exists {} {} where {}", collection.text, variable.text, expr_text(condition)),
            None => format!("exists {} {}", collection.text, variable.text),
        },
        ExprKind::Paren(inner) => format!("({})", expr_text(inner)),
    }
}

/// Lines of a long expression, each with its indentation relative to the first line. Breaks go
/// before `or` and `and`, and after `where`; anything that fits in the remaining width stays on
/// one line.
fn layout(expr: &Expr, indent: usize) -> Vec<(usize, String)> {
    let flat = expr_text(expr);
    if indent + flat.len() <= MAX_WIDTH {
        return vec![(0, flat)];
    }
    match &expr.kind {
        ExprKind::Or(..) | ExprKind::And(..) => {
            let is_or = matches!(expr.kind, ExprKind::Or(..));
            let mut operands = Vec::new();
            collect_chain(expr, is_or, &mut operands);
            let keyword = if is_or { "or " } else { "and " };
            let mut lines = Vec::new();
            for (index, operand) in operands.into_iter().enumerate() {
                let prefix = if index == 0 { "" } else { keyword };
                let mut operand_lines = layout(operand, indent + prefix.len());
                if let Some(first) = operand_lines.first_mut() {
                    first.1.insert_str(0, prefix);
                }
                lines.extend(operand_lines);
            }
            lines
        }
        ExprKind::Exists { collection, variable, condition: Some(condition) } => {
            let mut lines = vec![(0, format!("exists {} {} where", collection.text, variable.text))];
            lines.extend(layout(condition, indent + INDENT).into_iter().map(|(extra, text)| (extra + INDENT, text)));
            lines
        }
        ExprKind::Not(operand) => prefixed("not ", layout(operand, indent + 4)),
        ExprKind::Paren(inner) => {
            let mut lines = prefixed("(", layout(inner, indent + 1));
            if let Some(last) = lines.last_mut() {
                last.1.push(')');
            }
            lines
        }
        _ => vec![(0, flat)],
    }
}

fn prefixed(prefix: &str, mut lines: Vec<(usize, String)>) -> Vec<(usize, String)> {
    if let Some(first) = lines.first_mut() {
        first.1.insert_str(0, prefix);
    }
    lines
}

/// The operands of a left-nested chain of one operator (`a or b or c` → `[a, b, c]`).
fn collect_chain<'e>(expr: &'e Expr, is_or: bool, operands: &mut Vec<&'e Expr>) {
    match (&expr.kind, is_or) {
        (ExprKind::Or(left, right), true) | (ExprKind::And(left, right), false) => {
            collect_chain(left, is_or, operands);
            collect_chain(right, is_or, operands);
        }
        _ => operands.push(expr),
    }
}
