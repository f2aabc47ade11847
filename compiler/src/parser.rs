//! Text → spanned AST. The pest grammar sits beside this file (`grammar.pest`).
//!
//! A syntax error becomes one [`Diagnostic`] (E0001) whose message says, in words, what was
//! expected; pest's rule names never reach the user.

use crate::ast::*;
use crate::diagnostics::{Code, Diagnostic};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct SchemaParser;

/// Parses one `.schema` file.
pub fn parse(text: &str) -> Result<File, Diagnostic> {
    let mut pairs = match SchemaParser::parse(Rule::file, text) {
        Ok(pairs) => pairs,
        Err(_) => return Err(syntax_error(text)),
    };
    let file = pairs.next().ok_or_else(|| Diagnostic::new(Code::E0001, 0..0, "empty parse tree").with_label("here"))?;
    build_file(file)
}

/// Describes a syntax error in words: which tokens and constructs would have been accepted,
/// what was found instead, and where the missing piece belongs.
fn syntax_error(text: &str) -> Diagnostic {
    // pest records the literal tokens it tried (`,`, `;`, …) only in its detailed mode, which
    // slows parsing down. The fast parse has already failed; parse again in detailed mode to
    // name them. The flag is process-wide and stays on, so concurrent parses never switch it
    // off under one another; it only costs time on the (rare) parses that follow an error.
    pest::set_error_detail(true);
    let error = match SchemaParser::parse(Rule::file, text) {
        Err(error) => error,
        Ok(_) => return Diagnostic::new(Code::E0001, 0..0, "syntax error").with_label("here"),
    };
    let location = match error.location {
        pest::error::InputLocation::Pos(position) => position,
        pest::error::InputLocation::Span((start, _)) => start,
    };
    // The farthest position where a literal token was expected is where the text stopped making
    // sense (pest's own location is where the last rule started). Positions reached only inside
    // a negative lookahead (`where` is not a name) say nothing, so they are not used.
    let position = error
        .parse_attempts()
        .filter(|attempts| !attempts.expected_tokens().is_empty())
        .map_or(location, |attempts| attempts.max_position.max(location))
        .min(text.len());
    if let Some(diagnostic) = unterminated_string(text, position) {
        return diagnostic;
    }
    let mut rules: Vec<&str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        rules.extend(positives.iter().filter_map(|rule| describe_rule(*rule)));
    }
    let comparison_expected = rules.contains(&"a comparison operator");
    let mut expected: Vec<String> = Vec::new();
    if let Some(attempts) = error.parse_attempts() {
        for token in attempts.expected_tokens() {
            // Literal tokens print as themselves; character ranges print as `a..z` and are
            // covered by the rule descriptions instead.
            let token = token.to_string();
            let is_operator = matches!(token.as_str(), "!=" | "<" | "<=" | "=" | ">" | ">=");
            let helpful = matches!(token.as_str(), "," | ";" | "{" | "}" | "(" | ")" | ":" | "?" | "<" | ">" | "=")
                || is_structural_keyword(&token);
            if helpful && !(is_operator && comparison_expected) {
                expected.push(format!("`{token}`"));
            }
        }
    }
    expected.extend(rules.iter().map(|rule| (*rule).to_owned()));
    let mut seen = std::collections::BTreeSet::new();
    expected.retain(|item| seen.insert(item.clone()));
    // Point at the next token, not at the whitespace before it.
    let position = position + (text[position..].len() - text[position..].trim_start().len());
    let found = found_at(text, position);
    let expected_text = if expected.is_empty() { "something else".to_owned() } else { join_alternatives(&expected) };
    let message = format!("syntax error: expected {expected_text}, found {found}");
    // When the unexpected token starts a new line, the missing piece belongs at the end of the
    // previous one, as with a forgotten `,` or `;`.
    let previous_end = text[..position].trim_end().len();
    let missing_before_newline = text[previous_end..position].contains('\n') && previous_end > 0;
    let found_span = position..position + found_length(text, position);
    if missing_before_newline {
        Diagnostic::new(Code::E0001, previous_end..previous_end, message)
            .with_label(format!("expected {expected_text} here"))
            .with_secondary(found_span, format!("found {found}"))
    } else {
        Diagnostic::new(Code::E0001, found_span, message).with_label(format!("expected {expected_text}"))
    }
}

/// A string literal left open on the line where parsing stopped, if there is one.
fn unterminated_string(text: &str, position: usize) -> Option<Diagnostic> {
    let line_start = text[..position].rfind('\n').map_or(0, |index| index + 1);
    let line_end = text[position..].find('\n').map_or(text.len(), |index| position + index);
    let line = &text[line_start..line_end];
    let mut open_quote = None;
    let mut characters = line.char_indices();
    while let Some((index, character)) = characters.next() {
        match character {
            '/' if open_quote.is_none() && line[index..].starts_with("//") => break,
            '"' => open_quote = if open_quote.is_some() { None } else { Some(index) },
            '\\' if open_quote.is_some() => {
                characters.next();
            }
            _ => {}
        }
    }
    let quote = line_start + open_quote?;
    Some(
        Diagnostic::new(Code::E0001, quote..quote + 1, "syntax error: unterminated string literal")
            .with_label("this string has no closing `\"` on its line")
            .with_help("strings cannot span lines; write a line break as `\\n`"),
    )
}

fn is_structural_keyword(token: &str) -> bool {
    matches!(token, "allow" | "if" | "schema" | "migrate" | "from" | "to" | "where")
}

/// The length of the token at `position`: a word, a string, or one character.
fn found_length(text: &str, position: usize) -> usize {
    let rest = &text[position..];
    let word = rest
        .chars()
        .take_while(|character| character.is_alphanumeric() || *character == '_')
        .map(char::len_utf8)
        .sum::<usize>();
    if word > 0 {
        word
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    }
}

fn found_at(text: &str, position: usize) -> String {
    let length = found_length(text, position);
    if length == 0 {
        "the end of the file".to_owned()
    } else {
        format!("`{}`", &text[position..position + length])
    }
}

fn join_alternatives(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// Words for the grammar rules that can appear in "expected …"; `None` hides a rule.
fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::schema_header => "`schema <name>;`",
        Rule::identifier | Rule::field_name | Rule::field_reference | Rule::type_name | Rule::function_name => "a name",
        Rule::kw_schema => "`schema`",
        Rule::kw_enum => "`enum`",
        Rule::kw_type => "`type`",
        Rule::kw_collection => "`collection`",
        Rule::kw_allow => "`allow`",
        Rule::kw_if => "`if`",
        Rule::kw_insert | Rule::kw_update | Rule::kw_delete => "an action (`insert`, `update`, `delete`)",
        Rule::kw_readonly | Rule::kw_indexed | Rule::kw_default | Rule::kw_check => {
            "a field modifier (`readonly`, `indexed`, `default`, `check`)"
        }
        Rule::kw_ref => "`ref`",
        Rule::kw_migrate => "`migrate`",
        Rule::kw_from => "`from`",
        Rule::kw_to => "`to`",
        Rule::kw_add | Rule::kw_rename | Rule::kw_drop | Rule::kw_set => {
            "a migration step (`add`, `rename`, `drop`, `set`)"
        }
        Rule::enum_decl => "`enum`",
        Rule::record_decl => "`type`",
        Rule::collection_decl => "`collection`",
        Rule::migration => "`migrate`",
        Rule::enum_variant => "an enum variant",
        Rule::field => "a field",
        Rule::allow_rule => "`allow`",
        Rule::readonly | Rule::indexed | Rule::default_value | Rule::check => {
            "a field modifier (`readonly`, `indexed`, `default`, `check`)"
        }
        Rule::type_expr | Rule::named_type | Rule::ref_type | Rule::list_type | Rule::set_type | Rule::map_type => {
            "a type"
        }
        Rule::optional_marker => "`?`",
        Rule::action | Rule::insert_action | Rule::update_action | Rule::delete_action => {
            "an action (`insert`, `update`, `delete`)"
        }
        Rule::expr
        | Rule::exists
        | Rule::parenthesized
        | Rule::call
        | Rule::path
        | Rule::integer_literal
        | Rule::float_literal
        | Rule::string_literal
        | Rule::bool_literal
        | Rule::null_literal => "an expression",
        Rule::or_operator => "`or`",
        Rule::and_operator => "`and`",
        Rule::not_operator => "`not`",
        Rule::comparison_operator => "a comparison operator",
        Rule::in_list | Rule::kw_in => "`in (…)`",
        Rule::kw_exists => "`exists`",
        Rule::kw_where => "`where`",
        Rule::add_step | Rule::rename_step | Rule::drop_step | Rule::set_step => {
            "a migration step (`add`, `rename`, `drop`, `set`)"
        }
        Rule::qualified_name => "`Collection.field`",
        _ => return None,
    })
}

fn span_of(pair: &Pair<Rule>) -> Span {
    let span = pair.as_span();
    span.start()..span.end()
}

fn name(pair: Pair<Rule>) -> Name {
    Name { span: span_of(&pair), text: pair.as_str().to_owned() }
}

/// An internal inconsistency between the grammar and this builder. It cannot come from user
/// input once the two agree, but it is still reported instead of panicking.
fn unexpected(pair: &Pair<Rule>) -> Diagnostic {
    Diagnostic::new(Code::E0001, span_of(pair), format!("internal parser error: unexpected {:?}", pair.as_rule()))
}

fn build_file(pair: Pair<Rule>) -> Result<File, Diagnostic> {
    let (docs, children) = split_docs(pair);
    let mut header = None;
    let mut items = Vec::new();
    for inner in children {
        match inner.as_rule() {
            Rule::schema_header => {
                let span = span_of(&inner);
                let schema_name = significant(inner).next().map(name);
                header = schema_name.map(|schema_name| (schema_name, span));
            }
            Rule::enum_decl => items.push(Item::Enum(build_enum(inner)?)),
            Rule::record_decl => items.push(Item::Record(build_record(inner)?)),
            Rule::collection_decl => items.push(Item::Collection(build_collection(inner)?)),
            Rule::migration => items.push(Item::Migration(build_migration(inner)?)),
            Rule::EOI => {}
            _ => return Err(unexpected(&inner)),
        }
    }
    let (name, header_span) =
        header.ok_or_else(|| Diagnostic::new(Code::E0001, 0..0, "missing `schema <name>;` header"))?;
    Ok(File { docs, name, header_span, items })
}

/// Whether a pair is a keyword token, which carries no information for the tree.
fn is_keyword_token(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_schema
            | Rule::kw_enum
            | Rule::kw_type
            | Rule::kw_collection
            | Rule::kw_allow
            | Rule::kw_if
            | Rule::kw_insert
            | Rule::kw_update
            | Rule::kw_delete
            | Rule::kw_readonly
            | Rule::kw_indexed
            | Rule::kw_default
            | Rule::kw_check
            | Rule::kw_ref
            | Rule::kw_migrate
            | Rule::kw_from
            | Rule::kw_add
            | Rule::kw_rename
            | Rule::kw_to
            | Rule::kw_drop
            | Rule::kw_set
            | Rule::kw_exists
            | Rule::kw_where
            | Rule::kw_in
    )
}

/// Splits a node's children into its leading `///` lines and the rest, without keyword tokens.
fn split_docs(pair: Pair<Rule>) -> (Docs, Vec<Pair<Rule>>) {
    let mut docs = Docs::default();
    let mut rest = Vec::new();
    for inner in pair.into_inner() {
        if is_keyword_token(inner.as_rule()) {
            continue;
        }
        if inner.as_rule() == Rule::doc_comment && rest.is_empty() {
            let text = inner.into_inner().next().map_or("", |text| text.as_str());
            docs.lines.push(text.strip_prefix(' ').unwrap_or(text).trim_end().to_owned());
        } else {
            rest.push(inner);
        }
    }
    (docs, rest)
}

/// The children of a node that carry information (no keyword tokens).
fn significant(pair: Pair<Rule>) -> impl Iterator<Item = Pair<Rule>> {
    pair.into_inner().filter(|inner| !is_keyword_token(inner.as_rule()))
}

fn build_enum(pair: Pair<Rule>) -> Result<EnumDecl, Diagnostic> {
    let span = span_of(&pair);
    let (docs, children) = split_docs(pair);
    let mut inner = children.into_iter();
    let enum_name =
        inner.next().map(name).ok_or_else(|| Diagnostic::new(Code::E0001, span.clone(), "enum without a name"))?;
    let variants = inner
        .map(|variant| {
            let (docs, parts) = split_docs(variant);
            parts.into_iter().next().map(|variant_name| EnumVariant { docs, name: name(variant_name) })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Diagnostic::new(Code::E0001, span.clone(), "malformed enum variant"))?;
    Ok(EnumDecl { docs, name: enum_name, variants, span })
}

fn build_record(pair: Pair<Rule>) -> Result<RecordDecl, Diagnostic> {
    let span = span_of(&pair);
    let (docs, children) = split_docs(pair);
    let mut inner = children.into_iter();
    let record_name =
        inner.next().map(name).ok_or_else(|| Diagnostic::new(Code::E0001, span.clone(), "type without a name"))?;
    let fields = inner.map(build_field).collect::<Result<_, _>>()?;
    Ok(RecordDecl { docs, name: record_name, fields, span })
}

fn build_collection(pair: Pair<Rule>) -> Result<CollectionDecl, Diagnostic> {
    let span = span_of(&pair);
    let (docs, children) = split_docs(pair);
    let mut inner = children.into_iter();
    let collection_name = inner
        .next()
        .map(name)
        .ok_or_else(|| Diagnostic::new(Code::E0001, span.clone(), "collection without a name"))?;
    let mut members = Vec::new();
    for member in inner {
        members.push(match member.as_rule() {
            Rule::field => Member::Field(build_field(member)?),
            Rule::allow_rule => Member::Rule(build_rule(member)?),
            Rule::collection_decl => Member::Collection(build_collection(member)?),
            _ => return Err(unexpected(&member)),
        });
    }
    Ok(CollectionDecl { docs, name: collection_name, members, span })
}

fn build_field(pair: Pair<Rule>) -> Result<Field, Diagnostic> {
    let span = span_of(&pair);
    let (docs, children) = split_docs(pair);
    let mut field_name = None;
    let mut ty = None;
    let mut modifiers = Vec::new();
    for inner in children {
        match inner.as_rule() {
            Rule::field_name => field_name = Some(name(inner)),
            Rule::type_expr => ty = Some(build_type(inner)?),
            Rule::readonly => modifiers.push(FieldModifier::Readonly(span_of(&inner))),
            Rule::indexed => modifiers.push(FieldModifier::Indexed(span_of(&inner))),
            Rule::default_value => modifiers.push(FieldModifier::Default(build_first_expr(inner)?)),
            Rule::check => modifiers.push(FieldModifier::Check(build_first_expr(inner)?)),
            _ => return Err(unexpected(&inner)),
        }
    }
    for (index, modifier) in modifiers.iter().enumerate() {
        let kind = std::mem::discriminant(modifier);
        if modifiers[..index].iter().any(|earlier| std::mem::discriminant(earlier) == kind) {
            let (word, span) = match modifier {
                FieldModifier::Readonly(span) => ("readonly", span.clone()),
                FieldModifier::Indexed(span) => ("indexed", span.clone()),
                FieldModifier::Default(expr) => ("default", expr.span.clone()),
                FieldModifier::Check(expr) => ("check", expr.span.clone()),
            };
            return Err(Diagnostic::new(Code::E0001, span, format!("syntax error: `{word}` is given twice"))
                .with_label("second one here")
                .with_help(if word == "check" {
                    "combine the conditions with `and` in one `check (…)`"
                } else {
                    "give each modifier once"
                }));
        }
    }
    match (field_name, ty) {
        (Some(name), Some(ty)) => Ok(Field { docs, name, ty, modifiers, span }),
        _ => Err(Diagnostic::new(Code::E0001, span, "malformed field")),
    }
}

fn build_type(pair: Pair<Rule>) -> Result<TypeExpr, Diagnostic> {
    let span = span_of(&pair);
    let mut inner = pair.into_inner();
    let atom = inner.next().ok_or_else(|| Diagnostic::new(Code::E0001, span.clone(), "missing type"))?;
    let optional = inner.next().is_some();
    let atom_span = span_of(&atom);
    let missing = || Diagnostic::new(Code::E0001, atom_span.clone(), "malformed type");
    let kind = match atom.as_rule() {
        Rule::named_type => TypeExprKind::Named(atom.into_inner().next().map(name).ok_or_else(missing)?),
        Rule::ref_type => TypeExprKind::Ref(significant(atom).next().map(name).ok_or_else(missing)?),
        Rule::list_type => {
            let element = atom.into_inner().next().ok_or_else(missing)?;
            TypeExprKind::List(Box::new(build_type(element)?))
        }
        Rule::set_type => {
            let element = atom.into_inner().next().ok_or_else(missing)?;
            TypeExprKind::Set(Box::new(build_type(element)?))
        }
        Rule::map_type => {
            let mut parts = atom.into_inner();
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                return Err(missing());
            };
            TypeExprKind::Map(Box::new(build_type(key)?), Box::new(build_type(value)?))
        }
        _ => return Err(unexpected(&atom)),
    };
    Ok(TypeExpr { kind, optional, span })
}

fn build_rule(pair: Pair<Rule>) -> Result<crate::ast::Rule, Diagnostic> {
    let span = span_of(&pair);
    let (docs, children) = split_docs(pair);
    let mut actions = Vec::new();
    let mut condition = None;
    for inner in children {
        match inner.as_rule() {
            Rule::action => actions.push(build_action(inner)?),
            Rule::expr => condition = Some(build_expr(inner, 0)?),
            _ => return Err(unexpected(&inner)),
        }
    }
    let condition = condition.ok_or_else(|| Diagnostic::new(Code::E0001, span.clone(), "rule without a condition"))?;
    Ok(crate::ast::Rule { docs, actions, condition, span })
}

fn build_action(pair: Pair<Rule>) -> Result<Action, Diagnostic> {
    let span = span_of(&pair);
    let kind_pair =
        pair.into_inner().next().ok_or_else(|| Diagnostic::new(Code::E0001, span.clone(), "missing action"))?;
    let kind =
        match kind_pair.as_rule() {
            Rule::insert_action => ActionKind::Insert,
            Rule::delete_action => ActionKind::Delete,
            Rule::update_action => ActionKind::Update(significant(kind_pair).next().map(|list| {
                list.into_inner().filter_map(|reference| reference.into_inner().next().map(name)).collect()
            })),
            _ => return Err(unexpected(&kind_pair)),
        };
    Ok(Action { kind, span })
}

fn build_first_expr(pair: Pair<Rule>) -> Result<Expr, Diagnostic> {
    let span = span_of(&pair);
    match pair.into_inner().find(|inner| inner.as_rule() == Rule::expr) {
        Some(expr) => build_expr(expr, 0),
        None => Err(Diagnostic::new(Code::E0001, span, "missing expression")),
    }
}

/// How deeply expressions may nest. Later passes recurse over the tree, so a bound here keeps
/// any input, however contrived, from exhausting the stack.
const MAX_EXPRESSION_DEPTH: usize = 128;

static PRATT: std::sync::LazyLock<PrattParser<Rule>> = std::sync::LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or_operator, Assoc::Left))
        .op(Op::infix(Rule::and_operator, Assoc::Left))
        .op(Op::prefix(Rule::not_operator))
        .op(Op::infix(Rule::comparison_operator, Assoc::Left) | Op::postfix(Rule::in_list))
});

fn is_comparison(expr: &Expr) -> bool {
    matches!(expr.kind, ExprKind::Compare { .. } | ExprKind::In { .. })
}

fn chained_comparison(span: Span) -> Diagnostic {
    Diagnostic::new(Code::E0001, span, "syntax error: comparisons cannot be chained")
        .with_label("two comparisons in a row")
        .with_help("combine them with `and`, or add parentheses to say which comes first")
}

/// Builds an expression from the flat operand/operator sequence of an `expr` node.
fn build_expr(pair: Pair<Rule>, depth: usize) -> Result<Expr, Diagnostic> {
    let span = span_of(&pair);
    if depth > MAX_EXPRESSION_DEPTH {
        return Err(Diagnostic::new(
            Code::E0001,
            span,
            format!("expression nested more than {MAX_EXPRESSION_DEPTH} levels deep"),
        )
        .with_label("too deeply nested"));
    }
    PRATT
        .map_primary(|primary| build_operand(primary, depth + 1))
        .map_prefix(|operator, operand| {
            let operand = operand?;
            let span = operator.as_span().start()..operand.span.end;
            Ok(Expr { kind: ExprKind::Not(Box::new(operand)), span })
        })
        .map_postfix(|value, list| {
            let value = value?;
            if is_comparison(&value) {
                return Err(chained_comparison(value.span.start..list.as_span().end()));
            }
            let span = value.span.start..list.as_span().end();
            let options = list
                .into_inner()
                .filter(|option| option.as_rule() == Rule::expr)
                .map(|option| build_expr(option, depth + 1))
                .collect::<Result<_, _>>()?;
            Ok(Expr { kind: ExprKind::In { value: Box::new(value), options }, span })
        })
        .map_infix(|left, operator, right| {
            let (left, right) = (left?, right?);
            let span = left.span.start..right.span.end;
            let kind = match operator.as_rule() {
                Rule::or_operator => ExprKind::Or(Box::new(left), Box::new(right)),
                Rule::and_operator => ExprKind::And(Box::new(left), Box::new(right)),
                _ => {
                    if is_comparison(&left) || is_comparison(&right) {
                        return Err(chained_comparison(span));
                    }
                    let op = match operator.as_str() {
                        "=" => CompareOp::Equal,
                        "!=" => CompareOp::NotEqual,
                        "<" => CompareOp::Less,
                        "<=" => CompareOp::LessOrEqual,
                        ">" => CompareOp::Greater,
                        ">=" => CompareOp::GreaterOrEqual,
                        _ => return Err(unexpected(&operator)),
                    };
                    ExprKind::Compare { op, left: Box::new(left), right: Box::new(right) }
                }
            };
            Ok(Expr { kind, span })
        })
        .parse(pair.into_inner())
}

/// One operand: a literal, a path, a call, a parenthesized expression or an `exists`.
fn build_operand(pair: Pair<Rule>, depth: usize) -> Result<Expr, Diagnostic> {
    let span = span_of(&pair);
    let rule = pair.as_rule();
    let text = pair.as_str();
    let mut inner = pair.into_inner();
    let missing = || Diagnostic::new(Code::E0001, span.clone(), "malformed expression");
    match rule {
        Rule::exists => {
            let significant: Vec<_> =
                inner.filter(|part| !matches!(part.as_rule(), Rule::kw_exists | Rule::kw_where)).collect();
            let mut parts = significant.into_iter();
            let collection = parts.next().map(name).ok_or_else(missing)?;
            let variable = parts.next().map(name).ok_or_else(missing)?;
            let condition = parts.next().map(|condition| build_expr(condition, depth)).transpose()?.map(Box::new);
            Ok(Expr { kind: ExprKind::Exists { collection, variable, condition }, span })
        }
        Rule::parenthesized => {
            let expr = build_expr(inner.next().ok_or_else(missing)?, depth)?;
            Ok(Expr { kind: ExprKind::Paren(Box::new(expr)), span })
        }
        Rule::call => {
            let function = inner.next().map(name).ok_or_else(missing)?;
            let argument = build_expr(inner.next().ok_or_else(missing)?, depth)?;
            Ok(Expr { kind: ExprKind::Call { function, argument: Box::new(argument) }, span })
        }
        Rule::path => Ok(Expr { kind: ExprKind::Path(inner.map(name).collect()), span }),
        Rule::integer_literal => {
            text.parse::<i64>().map(|value| Expr { kind: ExprKind::Int(value), span: span.clone() }).map_err(|_| {
                Diagnostic::new(Code::E0002, span.clone(), format!("integer literal `{text}` does not fit in 64 bits"))
                    .with_label("out of range")
                    .with_help("integers are signed 64-bit: from -9223372036854775808 to 9223372036854775807")
            })
        }
        _ => build_literal(rule, span, text),
    }
}

fn build_literal(rule: Rule, span: Span, text: &str) -> Result<Expr, Diagnostic> {
    let kind = match rule {
        Rule::float_literal => match text.parse::<f64>() {
            Ok(value) if value.is_finite() => ExprKind::Float(value),
            _ => {
                return Err(Diagnostic::new(Code::E0002, span, format!("float literal `{text}` is out of range"))
                    .with_label("not a finite 64-bit float"))
            }
        },
        Rule::string_literal => ExprKind::String(unescape(&text[1..text.len() - 1], span.start + 1)?),
        Rule::bool_literal => ExprKind::Bool(text == "true"),
        Rule::null_literal => ExprKind::Null,
        _ => {
            return Err(Diagnostic::new(Code::E0001, span, format!("internal parser error: unexpected {rule:?}")));
        }
    };
    Ok(Expr { kind, span })
}

/// Resolves the escapes the grammar admits: `\" \\ \n \t \r \u{…}`.
pub(crate) fn unescape(text: &str, offset: usize) -> Result<String, Diagnostic> {
    let mut result = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((index, character)) = chars.next() {
        if character != '\\' {
            result.push(character);
            continue;
        }
        let escaped = chars.next().map(|(_, escaped)| escaped);
        match escaped {
            Some('"') => result.push('"'),
            Some('\\') => result.push('\\'),
            Some('n') => result.push('\n'),
            Some('t') => result.push('\t'),
            Some('r') => result.push('\r'),
            Some('u') => {
                let rest = &text[index + 2..];
                let close = rest.find('}').unwrap_or(rest.len());
                let digits = rest.get(1..close).unwrap_or("");
                let code_point = u32::from_str_radix(digits, 16).ok().and_then(char::from_u32);
                match code_point {
                    Some(decoded) => result.push(decoded),
                    None => {
                        let span = offset + index..offset + index + 2 + close + 1;
                        return Err(Diagnostic::new(
                            Code::E0002,
                            span,
                            format!("`\\u{{{digits}}}` is not a Unicode scalar value"),
                        )
                        .with_label("invalid escape"));
                    }
                }
                for _ in 0..close + 1 {
                    chars.next();
                }
            }
            _ => {
                return Err(Diagnostic::new(Code::E0002, offset + index..offset + index + 2, "unknown escape")
                    .with_label("invalid escape")
                    .with_help("the escapes are \\\" \\\\ \\n \\t \\r and \\u{…}"));
            }
        }
    }
    Ok(result)
}

fn build_migration(pair: Pair<Rule>) -> Result<MigrationDecl, Diagnostic> {
    let span = span_of(&pair);
    let (docs, children) = split_docs(pair);
    let mut from = None;
    let mut steps = Vec::new();
    for inner in children {
        match inner.as_rule() {
            Rule::string_literal => {
                let text = inner.as_str();
                from = Some((text[1..text.len() - 1].to_owned(), span_of(&inner)));
            }
            Rule::add_step | Rule::rename_step | Rule::drop_step | Rule::set_step => steps.push(build_step(inner)?),
            _ => return Err(unexpected(&inner)),
        }
    }
    let (from, from_span) =
        from.ok_or_else(|| Diagnostic::new(Code::E0001, span.clone(), "migration without a source hash"))?;
    Ok(MigrationDecl { docs, from, from_span, steps, span })
}

fn build_step(pair: Pair<Rule>) -> Result<MigrationStep, Diagnostic> {
    let span = span_of(&pair);
    let rule = pair.as_rule();
    let mut inner = significant(pair);
    let missing = || Diagnostic::new(Code::E0001, span.clone(), "malformed migration step");
    let target_pair = inner.next().ok_or_else(missing)?;
    let target_span = span_of(&target_pair);
    let mut target_parts = target_pair.into_inner();
    let collection = target_parts.next().map(name).ok_or_else(missing)?;
    let field = target_parts.next().map(name);
    let target = QualifiedName { collection, field, span: target_span };
    let kind = match rule {
        Rule::add_step => {
            MigrationStepKind::Add { target, value: inner.next().map(|value| build_expr(value, 0)).transpose()? }
        }
        Rule::set_step => MigrationStepKind::Set { target, value: build_expr(inner.next().ok_or_else(missing)?, 0)? },
        Rule::rename_step => {
            MigrationStepKind::Rename { target, new_name: inner.next().map(name).ok_or_else(missing)? }
        }
        Rule::drop_step => MigrationStepKind::Drop { target },
        _ => return Err(missing()),
    };
    Ok(MigrationStep { kind, span })
}
