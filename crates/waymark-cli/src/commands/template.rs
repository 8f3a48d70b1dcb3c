//! `template list`, `template show`, `template validate FILE`.

use std::io::Write;

use serde_json::json;
use waymark_core::template::{LoadedTemplate, lint};
use waymark_core::{Service, ServiceError};

use super::{Failure, Outcome};
use crate::args::TemplateCommand;
use crate::exit;
use crate::render::{json as print_json, opt, table};

fn describe(out: &mut dyn Write, t: &LoadedTemplate) -> std::io::Result<()> {
    let template = &t.template;
    writeln!(out, "{} ({}, version {})", template.name, template.slug, t.version())?;
    if let Some(description) = &template.description {
        writeln!(out, "{}", description.trim())?;
    }
    writeln!(out, "Category: {}", template.category)?;
    if !template.variables.is_empty() {
        writeln!(out, "\nVariables:")?;
        let rows = template
            .variables
            .iter()
            .map(|v| {
                vec![
                    v.name.clone(),
                    if v.required { "yes".into() } else { "no".into() },
                    opt(v.default.as_deref()),
                    opt(v.examples.first().map(String::as_str)),
                    opt(v.description.as_deref()),
                ]
            })
            .collect();
        table(out, &["name", "required", "default", "example", "description"], rows)?;
    }
    if !template.guidelines.is_empty() {
        writeln!(out, "\nGuidelines:")?;
        for g in &template.guidelines {
            writeln!(out, "- {g}")?;
        }
    }
    writeln!(out, "\nPhases:")?;
    for (phase, order) in template.phases.iter().zip(1..) {
        writeln!(out, "{order}. {}", phase.name)?;
        for task in &phase.tasks {
            writeln!(out, "   - {}", task.name)?;
        }
    }
    Ok(())
}

pub(super) async fn run(service: &Service, cmd: &TemplateCommand, json: bool, out: &mut dyn Write) -> Outcome {
    match cmd {
        TemplateCommand::List { category } => {
            let templates: Vec<&LoadedTemplate> = service
                .templates()
                .templates()
                .iter()
                .filter(|t| category.as_deref().is_none_or(|c| t.template.category == c))
                .collect();
            if json {
                let list: Vec<_> = templates
                    .iter()
                    .map(|t| {
                        json!({
                            "slug": t.template.slug,
                            "name": t.template.name,
                            "category": t.template.category,
                            "phases": t.template.phases.len(),
                            "variables": t.template.variables.iter().map(|v| &v.name).collect::<Vec<_>>(),
                            "version": t.version(),
                            "source": t.source,
                        })
                    })
                    .collect();
                print_json(out, &list)?;
            } else {
                let rows = templates
                    .iter()
                    .map(|t| {
                        let source = serde_json::to_value(t.source).ok().and_then(|v| v.as_str().map(str::to_owned));
                        vec![
                            t.template.slug.clone(),
                            t.template.name.clone(),
                            t.template.category.clone(),
                            t.template.phases.len().to_string(),
                            source.unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(out, &["slug", "name", "category", "phases", "source"], rows)?;
            }
            for problem in service.templates().problems() {
                writeln!(out, "skipped {problem}")?;
            }
        }
        TemplateCommand::Show { slug } => {
            let Some(t) = service.templates().get(slug) else {
                return Err(Failure::Service(ServiceError::not_found(format!("Template not found: {slug}"))));
            };
            if json {
                print_json(
                    out,
                    &json!({ "slug": t.template.slug, "version": t.version(), "source": t.source, "yaml": t.content }),
                )?;
            } else {
                describe(out, t)?;
            }
        }
        TemplateCommand::Validate { file } => match lint(file) {
            Ok(t) => {
                if json {
                    print_json(out, &json!({ "valid": true, "slug": t.template.slug, "version": t.version() }))?;
                } else {
                    writeln!(
                        out,
                        "{}: OK ({} phases, {} variables)",
                        file.display(),
                        t.template.phases.len(),
                        t.template.variables.len()
                    )?;
                }
            }
            Err(problem) => {
                if json {
                    print_json(
                        out,
                        &json!({ "valid": false, "line": problem.error.line, "column": problem.error.column, "message": problem.error.message }),
                    )?;
                } else {
                    writeln!(out, "{problem}")?;
                }
                return Ok(exit::FAILURE);
            }
        },
    }
    Ok(exit::SUCCESS)
}
