//! Stored email templates (`email_templates`): SES's CreateEmailTemplate and friends. The
//! service checks names, sizes and header safety before anything gets here.

use super::db::on_db;
use super::{SqlStore, StoreError, StoreResult, now_ms};
use crate::server::store::{found, unique};

/// A template's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateContent {
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// A stored template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    pub name: String,
    pub content: TemplateContent,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    subject: String,
    text_part: Option<String>,
    html_part: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for TemplateRecord {
    fn from(r: Row) -> Self {
        TemplateRecord {
            name: r.name,
            content: TemplateContent {
                subject: r.subject,
                text: r.text_part,
                html: r.html_part,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Template storage; a part of `Store`.
#[async_trait::async_trait]
pub trait TemplateStore {
    /// `Conflict` when a template of that name exists; `LimitReached` when `max` exist.
    async fn create_template(&self, name: &str, c: &TemplateContent, max: u32) -> StoreResult<()>;
    async fn get_template(&self, name: &str) -> StoreResult<TemplateRecord>;
    /// `NotFound` when there is no such template.
    async fn update_template(&self, name: &str, c: &TemplateContent) -> StoreResult<()>;
    /// False when there was no such template.
    async fn delete_template(&self, name: &str) -> StoreResult<bool>;
    /// Templates by name, after `after`.
    async fn list_templates(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<TemplateRecord>>;
}

#[async_trait::async_trait]
impl TemplateStore for SqlStore {
    async fn create_template(&self, name: &str, c: &TemplateContent, max: u32) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.pools.write().begin().await?;
        let n: i64 = on_db!(tx.conn(), |c| {
            sqlx::query_scalar("SELECT COUNT(*) FROM email_templates")
                .fetch_one(c)
                .await?
        });
        if n >= max as i64 {
            return Err(StoreError::LimitReached);
        }
        let inserted: u64 = on_db!(tx.conn(), |x| {
            sqlx::query(
                "INSERT INTO email_templates (name, subject, text_part, html_part, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(&c.subject)
            .bind(c.text.as_deref())
            .bind(c.html.as_deref())
            .bind(now)
            .execute(x)
            .await?
            .rows_affected()
        });
        unique(inserted)?;
        tx.commit().await
    }

    async fn get_template(&self, name: &str) -> StoreResult<TemplateRecord> {
        let row: Option<Row> = on_db!(self.pools.read(), |p| {
            sqlx::query_as("SELECT * FROM email_templates WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    async fn update_template(&self, name: &str, c: &TemplateContent) -> StoreResult<()> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query(
                "UPDATE email_templates SET subject = $2, text_part = $3, html_part = $4, \
                 updated_at = $5 WHERE name = $1",
            )
            .bind(name)
            .bind(&c.subject)
            .bind(c.text.as_deref())
            .bind(c.html.as_deref())
            .bind(now_ms())
            .execute(p)
            .await?
            .rows_affected()
        });
        found(n)
    }

    async fn delete_template(&self, name: &str) -> StoreResult<bool> {
        let n: u64 = on_db!(self.pools.write(), |p| {
            sqlx::query("DELETE FROM email_templates WHERE name = $1")
                .bind(name)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    async fn list_templates(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<TemplateRecord>> {
        let rows: Vec<Row> = on_db!(self.pools.read(), |p| {
            sqlx::query_as("SELECT * FROM email_templates WHERE name > $1 ORDER BY name LIMIT $2")
                .bind(after.unwrap_or(""))
                .bind(limit.clamp(1, 1000) as i64)
                .fetch_all(p)
                .await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
