//! A small builder for DynamoDB update and condition expressions, so every attribute goes through
//! a placeholder (reserved words such as `status` and `name` need them).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

#[derive(Debug, Default)]
pub(crate) struct Expr {
    sets: Vec<String>,
    adds: Vec<String>,
    removes: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    condition: Option<String>,
}

impl Expr {
    /// `#n` placeholder for an attribute name.
    pub(crate) fn name(&mut self, attr: &str) -> String {
        if let Some((p, _)) = self.names.iter().find(|(_, a)| *a == attr) {
            return p.clone();
        }
        let p = format!("#n{}", self.names.len());
        self.names.insert(p.clone(), attr.to_owned());
        p
    }

    /// `:vN` placeholder for a value.
    pub(crate) fn val(&mut self, v: AttributeValue) -> String {
        let p = format!(":v{}", self.values.len());
        self.values.insert(p.clone(), v);
        p
    }

    /// `SET attr = v`.
    pub(crate) fn set(mut self, attr: &str, v: AttributeValue) -> Self {
        let (n, v) = (self.name(attr), self.val(v));
        self.sets.push(format!("{n} = {v}"));
        self
    }

    /// `SET attr = v` when `v` is present.
    pub(crate) fn set_opt(self, attr: &str, v: Option<AttributeValue>) -> Self {
        match v {
            Some(v) => self.set(attr, v),
            None => self,
        }
    }

    /// `SET attr = if_not_exists(attr, v)` when `v` is present.
    pub(crate) fn set_if_absent(mut self, attr: &str, v: Option<AttributeValue>) -> Self {
        if let Some(v) = v {
            let (n, v) = (self.name(attr), self.val(v));
            self.sets.push(format!("{n} = if_not_exists({n}, {v})"));
        }
        self
    }

    /// `ADD attr v` (numbers).
    pub(crate) fn add(mut self, attr: &str, v: AttributeValue) -> Self {
        let (n, v) = (self.name(attr), self.val(v));
        self.adds.push(format!("{n} {v}"));
        self
    }

    /// `REMOVE attr`.
    pub(crate) fn remove(mut self, attr: &str) -> Self {
        let n = self.name(attr);
        self.removes.push(n);
        self
    }

    /// A condition built with this expression's placeholders.
    pub(crate) fn when(mut self, f: impl FnOnce(&mut Self) -> String) -> Self {
        let c = f(&mut self);
        self.condition = Some(c);
        self
    }

    pub(crate) fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        parts.join(" ")
    }

    pub(crate) fn parts(
        self,
    ) -> (
        String,
        Option<String>,
        HashMap<String, String>,
        HashMap<String, AttributeValue>,
    ) {
        let u = self.update_expression();
        (u, self.condition, self.names, self.values)
    }

    /// Applies this expression to an `UpdateItem` call.
    pub(crate) fn apply(self, b: UpdateItemFluentBuilder) -> UpdateItemFluentBuilder {
        let (u, c, names, values) = self.parts();
        b.update_expression(u)
            .set_condition_expression(c)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
    }
}

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads a string attribute.
pub(crate) fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

/// Reads a number attribute.
pub(crate) fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<i64> {
    item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}
