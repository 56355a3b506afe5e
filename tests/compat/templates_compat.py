#!/usr/bin/env python3
"""Drive a running optbox's stored email templates with the real AWS CLI and boto3:
Create/Get/Update/Delete/ListEmailTemplates, TestRenderEmailTemplate, and SendEmail with
a stored template by name and by ARN (Handlebars data, a rendering failure).

Environment: OPTBOX_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION; AWS_CLI (path of the `aws` program).
"""
import json

from ses_checks import AWS, check, cli, client, done, expect_error

ses = client()

# boto3: create, get, update, list, render.
ses.create_email_template(TemplateName="Welcome", TemplateContent={
    "Subject": "Welcome, {{name}}",
    "Text": "Hi {{name}}{{#if city}} from {{city}}{{/if}}.{{#each items}} [{{this}}]{{/each}} Leave: {{amazonSESUnsubscribeUrl}}",
    "Html": "<p>Hi {{name}}</p><a href=\"{{amazonSESUnsubscribeUrl}}\">leave</a>",
})
t = ses.get_email_template(TemplateName="Welcome")
check(t["TemplateName"] == "Welcome", t)
check(t["TemplateContent"]["Subject"] == "Welcome, {{name}}", t)
msg = expect_error("AlreadyExistsException", ses.create_email_template, TemplateName="Welcome",
                   TemplateContent={"Subject": "x", "Text": "y"})
check("Welcome" in msg, msg)
expect_error("NotFoundException", ses.get_email_template, TemplateName="Nope")
expect_error("BadRequestException", ses.create_email_template, TemplateName="Bad",
             TemplateContent={"Subject": "a\r\nBcc: x@y.example", "Text": "y"})
expect_error("BadRequestException", ses.create_email_template, TemplateName="Broken",
             TemplateContent={"Subject": "s", "Text": "{{#if}}"})
r = ses.test_render_email_template(TemplateName="Welcome",
                                   TemplateData=json.dumps({"name": "Ann & Bo", "city": "Oslo", "items": [1, 2]}))
rendered = r["RenderedTemplate"]
check("Welcome, Ann & Bo" in rendered, rendered)
check("from Oslo." in rendered and "[1] [2]" in rendered, rendered)
check("{{amazonSESUnsubscribeUrl}}" in rendered, "the reserved name is left for optbox: " + rendered)
check("Ann &amp; Bo" in rendered, "HTML values are escaped: " + rendered)
expect_error("BadRequestException", ses.test_render_email_template, TemplateName="Welcome",
             TemplateData=json.dumps({"city": "Oslo"}))
ses.update_email_template(TemplateName="Welcome", TemplateContent={
    "Subject": "Hello, {{name}}", "Text": "Hi {{name}}. Leave: {{amazonSESUnsubscribeUrl}}"})
check(ses.get_email_template(TemplateName="Welcome")["TemplateContent"]["Subject"] == "Hello, {{name}}", "updated")
for i in range(3):
    ses.create_email_template(TemplateName=f"T{i}", TemplateContent={"Subject": "s", "Text": "t"})
page = ses.list_email_templates(PageSize=2)
check(len(page["TemplatesMetadata"]) == 2 and "NextToken" in page, page)
rest = ses.list_email_templates(PageSize=2, NextToken=page["NextToken"])
names = [t["TemplateName"] for t in page["TemplatesMetadata"] + rest["TemplatesMetadata"]]
check(names == ["T0", "T1", "T2", "Welcome"], names)

# SendEmail with a stored template, by name and by ARN, to a list (the link is filled in).
ses.create_contact_list(ContactListName="news")
r = ses.send_email(FromEmailAddress="news@example.com", Destination={"ToAddresses": ["ann@example.org"]},
                   Content={"Template": {"TemplateName": "Welcome", "TemplateData": json.dumps({"name": "Ann"})}},
                   ListManagementOptions={"ContactListName": "news"})
check(r["MessageId"], r)
print(json.dumps({"via": "stored", "MessageId": r["MessageId"]}))
r = ses.send_email(FromEmailAddress="news@example.com", Destination={"ToAddresses": ["bea@example.org"]},
                   Content={"Template": {"TemplateArn": "arn:aws:ses:eu-central-1:123456789012:template/Welcome",
                                         "TemplateData": json.dumps({"name": "Bea"})}})
print(json.dumps({"via": "arn", "MessageId": r["MessageId"]}))
# Missing data: accepted with a MessageId (a Rendering Failure event), nothing sent.
r = ses.send_email(FromEmailAddress="news@example.com", Destination={"ToAddresses": ["cem@example.org"]},
                   EmailTags=[{"Name": "campaign", "Value": "welcome"}],
                   Content={"Template": {"TemplateName": "Welcome", "TemplateData": "{}"}})
print(json.dumps({"via": "failure", "MessageId": r["MessageId"]}))
expect_error("NotFoundException", ses.send_email, FromEmailAddress="news@example.com",
             Destination={"ToAddresses": ["a@example.org"]},
             Content={"Template": {"TemplateName": "Nope", "TemplateData": "{}"}})

# The AWS CLI: the same operations.
cli("create-email-template", "--template-name", "Cli",
    "--template-content", json.dumps({"Subject": "Hi {{name}}", "Text": "Hello {{name}}"}))
got = cli("get-email-template", "--template-name", "Cli")
check(got["TemplateContent"]["Text"] == "Hello {{name}}", got)
out = cli("test-render-email-template", "--template-name", "Cli", "--template-data", json.dumps({"name": "Dee"}))
check("Hello Dee" in out["RenderedTemplate"], out)
listed = cli("list-email-templates")
check("Cli" in [t["TemplateName"] for t in listed["TemplatesMetadata"]], listed)
cli("delete-email-template", "--template-name", "Cli")
expect_error("NotFoundException", ses.get_email_template, TemplateName="Cli")
expect_error("NotFoundException", ses.delete_email_template, TemplateName="Cli")

done()
