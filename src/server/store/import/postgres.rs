//! An import batch's bulk statements on PostgreSQL: one statement per batch over arrays
//! (`UNNEST`, `= ANY`), so PostgreSQL parses and plans one small statement instead of
//! thousands of parameters. (The schema has no foreign keys to turn off.)

use super::super::StoreResult;
use super::{Bulk, ExistingRow, NewContactRow};
use sqlx::PgConnection;
use std::collections::HashMap;

impl Bulk for PgConnection {
    async fn contacts_by_key(
        &mut self,
        list_id: i64,
        keys: &[String],
    ) -> StoreResult<Vec<ExistingRow>> {
        Ok(sqlx::query_as(
            "SELECT id, email, email_key, unsubscribe_all, attributes FROM contacts \
             WHERE list_id = $1 AND email_key = ANY($2)",
        )
        .bind(list_id)
        .bind(keys)
        .fetch_all(&mut *self)
        .await?)
    }

    async fn prefs_of(&mut self, ids: &[i64]) -> StoreResult<Vec<(i64, i64, bool)>> {
        Ok(sqlx::query_as(
            "SELECT contact_id, topic_id, opt_in FROM contact_topic_prefs \
             WHERE contact_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&mut *self)
        .await?)
    }

    async fn tombstones(
        &mut self,
        list_name: &str,
        keys: &[&[u8]],
    ) -> StoreResult<Vec<(Vec<u8>, bool, String)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT email_hash, unsubscribe_all, topics FROM tombstones \
             WHERE list_name = $1 AND email_hash = ANY($2)",
        )
        .bind(list_name)
        .bind(keys)
        .fetch_all(&mut *self)
        .await?)
    }

    async fn insert_contacts(
        &mut self,
        list_id: i64,
        rows: &[NewContactRow<'_>],
        now: i64,
    ) -> StoreResult<HashMap<String, i64>> {
        if rows.is_empty() {
            return Ok(Default::default());
        }
        let emails: Vec<&str> = rows.iter().map(|r| r.email).collect();
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        let hashes: Vec<&[u8]> = rows.iter().map(|r| r.hash).collect();
        let unsub: Vec<bool> = rows.iter().map(|r| r.unsubscribe_all).collect();
        let attrs: Vec<&str> = rows.iter().map(|r| r.attributes.as_str()).collect();
        let out: Vec<(String, i64)> = sqlx::query_as(
            "INSERT INTO contacts (list_id, email, email_key, email_hash, unsubscribe_all, \
             attributes, created_at, updated_at) \
             SELECT $1, e, k, h, u, a, $7, $7 \
             FROM UNNEST($2::text[], $3::text[], $4::bytea[], $5::bool[], $6::text[]) \
             AS t(e, k, h, u, a) \
             RETURNING email_key, id",
        )
        .bind(list_id)
        .bind(&emails)
        .bind(&keys)
        .bind(&hashes)
        .bind(&unsub)
        .bind(&attrs)
        .bind(now)
        .fetch_all(&mut *self)
        .await?;
        Ok(out.into_iter().collect())
    }

    async fn put_prefs(&mut self, rows: &[(i64, i64, bool)], upsert: bool) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let contacts: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let topics: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let opt_in: Vec<bool> = rows.iter().map(|r| r.2).collect();
        let insert = "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) \
                      SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bool[])";
        let upserting = format!(
            "{insert} ON CONFLICT (contact_id, topic_id) DO UPDATE SET opt_in = excluded.opt_in"
        );
        sqlx::query(if upsert { &upserting } else { insert })
            .bind(&contacts)
            .bind(&topics)
            .bind(&opt_in)
            .execute(&mut *self)
            .await?;
        Ok(())
    }
}
