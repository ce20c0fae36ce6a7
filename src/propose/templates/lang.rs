//! What the templates need to know about each language's syntax tree, and
//! how each language spells a guard, a negation, a fallback.

use tree_sitter::{Language, Node, Tree};

use crate::config::KillSwitchCfg;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    JavaScript,
}

const PY_COMPARISONS: [(&str, &str); 6] = [("<", "<="), ("<=", "<"), (">", ">="), (">=", ">"), ("==", "!="), ("!=", "==")];
const JS_COMPARISONS: [(&str, &str); 8] =
    [("<", "<="), ("<=", "<"), (">", ">="), (">=", ">"), ("==", "!="), ("!=", "=="), ("===", "!=="), ("!==", "===")];

impl Lang {
    pub fn for_path(path: &str) -> Option<Lang> {
        let ext = std::path::Path::new(path).extension()?.to_str()?;
        match ext {
            "py" => Some(Lang::Python),
            "js" | "mjs" | "cjs" => Some(Lang::JavaScript),
            _ => None,
        }
    }

    pub fn grammar(self) -> Language {
        match self {
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
        }
    }

    pub fn is_statement(self, kind: &str) -> bool {
        match self {
            Lang::Python => {
                kind.ends_with("_statement") || matches!(kind, "function_definition" | "class_definition" | "decorated_definition")
            }
            Lang::JavaScript => {
                kind.ends_with("_statement")
                    || matches!(kind, "lexical_declaration" | "variable_declaration" | "function_declaration" | "class_declaration")
            }
        }
    }

    pub fn is_block(self, kind: &str) -> bool {
        match self {
            Lang::Python => matches!(kind, "block" | "module"),
            Lang::JavaScript => matches!(kind, "statement_block" | "program" | "switch_case" | "switch_default"),
        }
    }

    pub fn is_compound(self, kind: &str) -> bool {
        match self {
            Lang::Python => matches!(
                kind,
                "if_statement"
                    | "for_statement"
                    | "while_statement"
                    | "with_statement"
                    | "try_statement"
                    | "match_statement"
                    | "function_definition"
                    | "class_definition"
                    | "decorated_definition"
            ),
            Lang::JavaScript => matches!(
                kind,
                "if_statement"
                    | "for_statement"
                    | "for_in_statement"
                    | "while_statement"
                    | "do_statement"
                    | "try_statement"
                    | "switch_statement"
                    | "function_declaration"
                    | "class_declaration"
            ),
        }
    }

    /// The header parts of a compound statement (conditions, the iterable)
    /// that start on `row`.
    pub fn header<'t>(self, stmt: Node<'t>, row: usize) -> Vec<Node<'t>> {
        let mut parts = Vec::new();
        for field in ["condition", "right", "initializer", "increment", "value"] {
            if let Some(n) = stmt.child_by_field_name(field) {
                parts.push(n);
            }
        }
        let mut cursor = stmt.walk();
        for child in stmt.children(&mut cursor) {
            if matches!(child.kind(), "elif_clause" | "else_clause")
                && let Some(c) = child.child_by_field_name("condition")
            {
                parts.push(c);
            }
        }
        parts.retain(|n| n.start_position().row == row);
        parts
    }

    pub fn is_function(self, kind: &str) -> bool {
        match self {
            Lang::Python => matches!(kind, "function_definition" | "lambda"),
            Lang::JavaScript => {
                matches!(
                    kind,
                    "function_declaration"
                        | "function_expression"
                        | "arrow_function"
                        | "method_definition"
                        | "generator_function_declaration"
                )
            }
        }
    }

    /// The function's plain parameter names (not `self`, `cls` or splats).
    pub fn params(self, f: Node<'_>, src: &str) -> Vec<String> {
        let mut out = Vec::new();
        let Some(list) = f.child_by_field_name("parameters").or_else(|| f.child_by_field_name("parameter")) else { return out };
        let text = |n: Node| src[n.byte_range()].to_string();
        if list.kind() == "identifier" {
            return vec![text(list)];
        }
        let mut cursor = list.walk();
        for p in list.named_children(&mut cursor) {
            let name = match p.kind() {
                "identifier" => Some(p),
                "default_parameter" | "typed_default_parameter" | "assignment_pattern" => {
                    p.child_by_field_name("name").or_else(|| p.child_by_field_name("left"))
                }
                "typed_parameter" => p.named_child(0),
                _ => None,
            };
            if let Some(n) = name.filter(|n| n.kind() == "identifier") {
                let t = text(n);
                if t != "self" && t != "cls" {
                    out.push(t);
                }
            }
        }
        out
    }

    pub fn kill_expr(self, k: &KillSwitchCfg) -> &str {
        match self {
            Lang::Python => &k.python,
            Lang::JavaScript => &k.javascript,
        }
    }

    pub fn kill_import(self, k: &KillSwitchCfg) -> &str {
        match self {
            Lang::Python => &k.python_import,
            Lang::JavaScript => &k.javascript_import,
        }
    }

    /// Where an import line goes: after the last top-level import (or
    /// `require`), else after a module docstring, else at the top.
    pub fn import_position(self, tree: &Tree, src: &str) -> usize {
        let root = tree.root_node();
        let mut cursor = root.walk();
        let mut after = None;
        for (i, n) in root.named_children(&mut cursor).enumerate() {
            let is_import = match self {
                Lang::Python => matches!(n.kind(), "import_statement" | "import_from_statement" | "future_import_statement"),
                Lang::JavaScript => {
                    matches!(n.kind(), "import_statement")
                        || (n.kind().ends_with("declaration") && src[n.byte_range()].contains("require("))
                }
            };
            let docstring = self == Lang::Python
                && i == 0
                && n.kind() == "expression_statement"
                && n.named_child(0).is_some_and(|c| c.kind() == "string");
            if is_import || (docstring && after.is_none()) {
                after = Some(n.end_byte());
            }
        }
        match after {
            Some(end) => src[end..].find('\n').map_or(src.len(), |i| end + i + 1),
            None => 0,
        }
    }

    /// `new` when the switch is off, `old` when it is on.
    pub fn switch_expr(self, kill: &str, old: &str, new: &str) -> String {
        match self {
            Lang::Python => format!("({new} if not {kill} else {old})"),
            Lang::JavaScript => format!("({kill} ? {old} : {new})"),
        }
    }

    pub fn and_not(self, cond: &str, kill: &str) -> String {
        match self {
            Lang::Python => format!("{cond} and not {kill}"),
            Lang::JavaScript => format!("({cond}) && !{kill}"),
        }
    }

    /// A guard statement, followed by the indentation the original statement
    /// had (it is inserted at the statement's start).
    pub fn guard(self, cond: &str, body: &str, indent: &str, step: &str) -> String {
        match self {
            Lang::Python => format!("if {cond}:\n{indent}{step}{body}\n{indent}"),
            Lang::JavaScript => format!("if ({cond}) {body}\n{indent}"),
        }
    }

    pub fn ret(self, value: &str) -> String {
        match self {
            Lang::Python => format!("return {value}"),
            Lang::JavaScript => format!("return {value};"),
        }
    }

    pub fn null(self) -> &'static str {
        match self {
            Lang::Python => "None",
            Lang::JavaScript => "null",
        }
    }

    pub fn is_null(self, v: &str) -> String {
        match self {
            Lang::Python => format!("{v} is None"),
            Lang::JavaScript => format!("{v} == null"),
        }
    }

    pub fn not_in(self, idx: &str, obj: &str) -> String {
        match self {
            Lang::Python => format!("{idx} not in {obj}"),
            Lang::JavaScript => format!("!({idx} in {obj})"),
        }
    }

    pub fn out_of_range(self, idx: &str, obj: &str) -> String {
        match self {
            Lang::Python => format!("{idx} >= len({obj})"),
            Lang::JavaScript => format!("{idx} >= {obj}.length"),
        }
    }

    /// A comparison with a single operator: the operator node and its flip.
    pub fn comparison_op<'t>(self, n: Node<'t>, src: &str) -> Option<(Node<'t>, &'static str)> {
        let (kind, table): (&str, &[(&str, &'static str)]) = match self {
            Lang::Python => ("comparison_operator", &PY_COMPARISONS),
            Lang::JavaScript => ("binary_expression", &JS_COMPARISONS),
        };
        if n.kind() != kind {
            return None;
        }
        let mut cursor = n.walk();
        let ops: Vec<Node> = n.children(&mut cursor).filter(|c| !c.is_named()).collect();
        if ops.len() != 1 {
            return None;
        }
        let op = ops[0];
        let text = &src[op.byte_range()];
        table.iter().find(|(from, _)| *from == text).map(|(_, to)| (op, *to))
    }

    pub fn is_binary(self, kind: &str) -> bool {
        kind == match self {
            Lang::Python => "binary_operator",
            Lang::JavaScript => "binary_expression",
        }
    }

    pub fn is_atomic(self, kind: &str) -> bool {
        match self {
            Lang::Python => matches!(kind, "identifier" | "integer" | "call" | "attribute" | "subscript" | "parenthesized_expression"),
            Lang::JavaScript => {
                matches!(
                    kind,
                    "identifier" | "number" | "call_expression" | "member_expression" | "subscript_expression" | "parenthesized_expression"
                )
            }
        }
    }

    fn is_literal_non_int(self, n: Node<'_>) -> bool {
        match self {
            Lang::Python => matches!(n.kind(), "string" | "none" | "true" | "false" | "float" | "list" | "dictionary" | "tuple" | "set"),
            Lang::JavaScript => {
                matches!(n.kind(), "string" | "template_string" | "null" | "undefined" | "true" | "false" | "array" | "object")
            }
        }
    }

    /// Expressions whose integer value an off-by-one might be in.
    pub fn integer_positions<'t>(self, n: Node<'t>, src: &str, out: &mut Vec<Node<'t>>) {
        let mut add = |c: Option<Node<'t>>| {
            if let Some(c) = c
                && !self.is_literal_non_int(c)
                && c.kind() != "slice"
            {
                out.push(c);
            }
        };
        match (self, n.kind()) {
            (Lang::Python, "subscript") => {
                let mut cursor = n.walk();
                for s in n.children_by_field_name("subscript", &mut cursor) {
                    if s.kind() == "slice" {
                        let mut c2 = s.walk();
                        for part in s.named_children(&mut c2) {
                            add(Some(part));
                        }
                    } else {
                        add(Some(s));
                    }
                }
            }
            (Lang::Python, "call") => {
                if let (Some(f), Some(args)) = (n.child_by_field_name("function"), n.child_by_field_name("arguments"))
                    && f.kind() == "identifier"
                    && &src[f.byte_range()] == "range"
                {
                    let mut cursor = args.walk();
                    for a in args.named_children(&mut cursor) {
                        add(Some(a));
                    }
                }
            }
            (Lang::Python, "comparison_operator") | (Lang::JavaScript, "binary_expression") if self.comparison_op_kind(n) => {
                let mut cursor = n.walk();
                for c in n.named_children(&mut cursor) {
                    add(Some(c));
                }
            }
            (Lang::JavaScript, "subscript_expression") => add(n.child_by_field_name("index")),
            (Lang::JavaScript, "call_expression") => {
                let is_slice = n
                    .child_by_field_name("function")
                    .and_then(|f| f.child_by_field_name("property"))
                    .is_some_and(|p| matches!(&src[p.byte_range()], "slice" | "substring" | "splice"));
                if is_slice && let Some(args) = n.child_by_field_name("arguments") {
                    let mut cursor = args.walk();
                    for a in args.named_children(&mut cursor) {
                        add(Some(a));
                    }
                }
            }
            _ => {}
        }
    }

    fn comparison_op_kind(self, n: Node<'_>) -> bool {
        let mut cursor = n.walk();
        let ops: Vec<&str> = n.children(&mut cursor).filter(|c| !c.is_named()).map(|c| c.kind()).collect();
        ops.len() == 1 && matches!(ops[0], "<" | "<=" | ">" | ">=" | "==" | "!=" | "===" | "!==")
    }

    /// The variable a node dereferences (`x.attr`, `x[i]`), if a plain name.
    pub fn dereferenced(self, n: Node<'_>, src: &str) -> Option<String> {
        let obj = match (self, n.kind()) {
            (Lang::Python, "attribute") => n.child_by_field_name("object"),
            (Lang::Python, "subscript") => n.child_by_field_name("value"),
            (Lang::JavaScript, "member_expression" | "subscript_expression") => n.child_by_field_name("object"),
            _ => None,
        }?;
        let name = &src[obj.byte_range()];
        (obj.kind() == "identifier" && !matches!(name, "self" | "cls" | "this")).then(|| name.to_string())
    }

    /// Whether `name` is an imported module, a class or a constant (never null).
    pub fn is_module_name(self, name: &str, src: &str) -> bool {
        if name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            return true;
        }
        let word = |l: &str| l.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == name);
        src.lines().any(|l| {
            let l = l.trim_start();
            match self {
                Lang::Python => (l.starts_with("import ") || l.starts_with("from ")) && word(l),
                Lang::JavaScript => (l.contains("require(") || l.starts_with("import ")) && word(l.split('=').next().unwrap_or("")),
            }
        })
    }

    /// `obj[idx]` with a non-slice index: the object's and the index's text.
    pub fn subscript(self, n: Node<'_>, src: &str) -> Option<(String, String)> {
        let (obj, idx) = match (self, n.kind()) {
            (Lang::Python, "subscript") => (n.child_by_field_name("value")?, n.child_by_field_name("subscript")?),
            (Lang::JavaScript, "subscript_expression") => (n.child_by_field_name("object")?, n.child_by_field_name("index")?),
            _ => return None,
        };
        if idx.kind() == "slice" || !matches!(obj.kind(), "identifier" | "attribute" | "member_expression") {
            return None;
        }
        Some((src[obj.byte_range()].to_string(), src[idx.byte_range()].to_string()))
    }

    /// The condition a node holds: an if/while header or a conditional expression's test.
    pub fn condition_of<'t>(self, n: Node<'t>) -> Option<Node<'t>> {
        match (self, n.kind()) {
            (Lang::Python, "if_statement" | "elif_clause" | "while_statement") => n.child_by_field_name("condition"),
            (Lang::Python, "conditional_expression") => n.named_child(1),
            (Lang::JavaScript, "if_statement" | "while_statement" | "do_statement" | "ternary_expression") => {
                n.child_by_field_name("condition")
            }
            _ => None,
        }
    }

    pub fn unparen<'t>(self, n: Node<'t>) -> Node<'t> {
        if n.kind() == "parenthesized_expression"
            && n.named_child_count() == 1
            && let Some(inner) = n.named_child(0)
        {
            return inner;
        }
        n
    }

    pub fn negate(self, n: Node<'_>, src: &str) -> String {
        let text = &src[n.byte_range()];
        match self {
            Lang::Python => {
                if n.kind() == "not_operator"
                    && let Some(arg) = n.child_by_field_name("argument")
                {
                    return src[arg.byte_range()].to_string();
                }
                if self.is_atomic(n.kind()) { format!("not {text}") } else { format!("not ({text})") }
            }
            Lang::JavaScript => {
                if n.kind() == "unary_expression"
                    && n.child_by_field_name("operator").is_some_and(|o| &src[o.byte_range()] == "!")
                    && let Some(arg) = n.child_by_field_name("argument")
                {
                    return src[arg.byte_range()].to_string();
                }
                if self.is_atomic(n.kind()) { format!("!{text}") } else { format!("!({text})") }
            }
        }
    }

    /// The two operands of `and`/`or` (`&&`/`||`).
    pub fn bool_operands<'t>(self, n: Node<'t>) -> Option<(Node<'t>, Node<'t>)> {
        let ok = match self {
            Lang::Python => n.kind() == "boolean_operator",
            Lang::JavaScript => {
                n.kind() == "binary_expression" && n.child_by_field_name("operator").is_some_and(|o| matches!(o.kind(), "&&" | "||"))
            }
        };
        if !ok {
            return None;
        }
        Some((n.child_by_field_name("left")?, n.child_by_field_name("right")?))
    }

    /// A call's positional arguments, when it has at least two.
    pub fn positional_args<'t>(self, n: Node<'t>) -> Option<Vec<Node<'t>>> {
        let call = match self {
            Lang::Python => "call",
            Lang::JavaScript => "call_expression",
        };
        if n.kind() != call {
            return None;
        }
        let args = n.child_by_field_name("arguments")?;
        let mut cursor = args.walk();
        let list: Vec<Node> = args
            .named_children(&mut cursor)
            .filter(|a| !matches!(a.kind(), "keyword_argument" | "list_splat" | "dictionary_splat" | "spread_element" | "comment"))
            .collect();
        (list.len() >= 2).then_some(list)
    }

    /// The operands of a non-commutative arithmetic operator.
    pub fn noncommutative<'t>(self, n: Node<'t>, src: &str) -> Option<(Node<'t>, Node<'t>)> {
        if !self.is_binary(n.kind()) {
            return None;
        }
        let op = n.child_by_field_name("operator")?;
        if !matches!(&src[op.byte_range()], "-" | "/" | "//" | "%") {
            return None;
        }
        Some((n.child_by_field_name("left")?, n.child_by_field_name("right")?))
    }

    /// Whether a statement can be wrapped in try/except as it is (a JS
    /// declaration cannot: its names would be scoped to the try block).
    pub fn can_wrap(self, stmt: Node<'_>) -> bool {
        matches!(stmt.kind(), "expression_statement" | "return_statement")
    }

    /// The statement wrapped in try/except (try/catch) returning `ret`.
    pub fn wrap_try(self, stmt: &str, exc: &str, ret: &str, indent: &str, step: &str, kill: Option<&str>) -> String {
        let body = stmt.replace('\n', &format!("\n{step}"));
        match self {
            Lang::Python => {
                let reraise = kill.map(|k| format!("if {k}:\n{indent}{step}{step}raise\n{indent}{step}")).unwrap_or_default();
                format!("try:\n{indent}{step}{body}\n{indent}except {exc}:\n{indent}{step}{reraise}{ret}")
            }
            Lang::JavaScript => {
                let rethrow = kill.map(|k| format!("if ({k}) throw e;\n{indent}{step}")).unwrap_or_default();
                format!("try {{\n{indent}{step}{body}\n{indent}}} catch (e) {{\n{indent}{step}{rethrow}{ret}\n{indent}}}")
            }
        }
    }
}
