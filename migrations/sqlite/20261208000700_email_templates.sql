-- SES stored email templates (CreateEmailTemplate and friends): a subject and a text
-- and/or HTML part in Handlebars, rendered at SendEmail with the sender's TemplateData.
CREATE TABLE email_templates (
    name        TEXT    PRIMARY KEY,
    subject     TEXT    NOT NULL,
    text_part   TEXT,
    html_part   TEXT,
    created_at  INTEGER  NOT NULL,
    updated_at  INTEGER  NOT NULL
);
