//! The whole tool catalogue as `tools/list` shows it, pinned.

use serde_json::json;
use waymark_testkit::{Backend, TestService};

#[tokio::test]
async fn tools_list_is_pinned() {
    let t = TestService::start(Backend::Sqlite).await;
    let tools: Vec<_> = t
        .service
        .catalogue()
        .tools()
        .iter()
        .map(|tool| {
            json!({
                "name": tool.name,
                "category": tool.category.as_str(),
                "scope": tool.scope.as_str(),
                "description": tool.description,
                "annotations": tool.annotations,
                "inputSchema": *tool.input_schema,
                "outputSchema": *tool.output_schema,
            })
        })
        .collect();
    insta::assert_json_snapshot!("tools_list", tools);
    t.finish().await;
}

#[tokio::test]
async fn every_schema_is_a_valid_2020_12_object_schema() {
    let t = TestService::start(Backend::Sqlite).await;
    for tool in t.service.catalogue().tools() {
        for (kind, schema) in [("input", &tool.input_schema), ("output", &tool.output_schema)] {
            let value = serde_json::Value::Object((**schema).clone());
            assert_eq!(
                schema.get("type"),
                Some(&json!("object")),
                "{} {kind} schema root must be an object",
                tool.name
            );
            assert!(jsonschema::meta::is_valid(&value), "{} {kind} schema is not valid JSON Schema", tool.name);
            assert!(!value.to_string().contains("\"$ref\""), "{} {kind} schema must be inlined", tool.name);
        }
        assert!(tool.description.len() <= 400, "{} description is too long", tool.name);
    }
    t.finish().await;
}
