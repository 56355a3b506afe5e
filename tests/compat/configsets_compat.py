#!/usr/bin/env python3
"""Configuration sets with the real AWS CLI and boto3: Create/Get/List/DeleteConfiguration
Set, event destinations naming an optbox webhook, the suppression and sending options,
and SendEmail with ConfigurationSetName (unknown: NotFoundException; paused:
SendingPausedException).

Environment: OPTBOX_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION; AWS_CLI (path of the `aws` program); OPTBOX_WEBHOOK_ID (a webhook
the test created).
"""
import json
import os

from ses_checks import check, cli, client, done, expect_error

ses = client()
hook = os.environ["OPTBOX_WEBHOOK_ID"]
arn = f"arn:aws:sns:eu-central-1:123456789012:optbox-webhook-{hook}"

delivery = {"TlsPolicy": "REQUIRE", "MaxDeliverySeconds": 600}
ses.create_configuration_set(
    ConfigurationSetName="marketing",
    DeliveryOptions=delivery,
    SuppressionOptions={"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
    Tags=[{"Key": "team", "Value": "growth"}],
)
got = ses.get_configuration_set(ConfigurationSetName="marketing")
check(got["ConfigurationSetName"] == "marketing", got)
check(got["DeliveryOptions"] == delivery, got)
check(got["SuppressionOptions"]["SuppressedReasons"] == ["BOUNCE", "COMPLAINT"], got)
check(got["SendingOptions"]["SendingEnabled"] is True, got)
check(got["Tags"] == [{"Key": "team", "Value": "growth"}], got)
m = expect_error("AlreadyExistsException", ses.create_configuration_set,
                 ConfigurationSetName="marketing")
check("marketing" in m, m)
m = expect_error("NotFoundException", ses.get_configuration_set, status=404,
                 ConfigurationSetName="invalid")
check(m == "Configuration set <invalid> does not exist.", m)
expect_error("BadRequestException", ses.create_configuration_set,
             ConfigurationSetName="not a name")

# The CLI, with the suppression options set afterwards.
cli("create-configuration-set", "--configuration-set-name", "transactional")
cli("put-configuration-set-suppression-options", "--configuration-set-name", "transactional",
    "--suppressed-reasons", "BOUNCE")
got = cli("get-configuration-set", "--configuration-set-name", "transactional")
check(got["SuppressionOptions"]["SuppressedReasons"] == ["BOUNCE"], got)
listed = cli("list-configuration-sets")
check(listed["ConfigurationSets"] == ["marketing", "transactional"], listed)
page = ses.list_configuration_sets(PageSize=1)
check(page["ConfigurationSets"] == ["marketing"] and "NextToken" in page, page)
rest = ses.list_configuration_sets(PageSize=1, NextToken=page["NextToken"])
check(rest["ConfigurationSets"] == ["transactional"], rest)

# Event destinations: an optbox webhook named as an SNS topic.
ses.create_configuration_set_event_destination(
    ConfigurationSetName="marketing", EventDestinationName="hook",
    EventDestination={"Enabled": True, "MatchingEventTypes": ["SEND", "SUBSCRIPTION"],
                      "SnsDestination": {"TopicArn": arn}})
dests = ses.get_configuration_set_event_destinations(ConfigurationSetName="marketing")
d = dests["EventDestinations"]
check(len(d) == 1 and d[0]["Name"] == "hook" and d[0]["Enabled"] is True, d)
check(d[0]["MatchingEventTypes"] == ["SEND", "SUBSCRIPTION"], d)
check(d[0]["SnsDestination"]["TopicArn"] == arn, d)
expect_error("AlreadyExistsException", ses.create_configuration_set_event_destination,
             ConfigurationSetName="marketing", EventDestinationName="hook",
             EventDestination={"MatchingEventTypes": ["SEND"], "SnsDestination": {"TopicArn": arn}})
m = expect_error("BadRequestException", ses.create_configuration_set_event_destination,
                 ConfigurationSetName="marketing", EventDestinationName="firehose",
                 EventDestination={"MatchingEventTypes": ["SEND"], "KinesisFirehoseDestination": {
                     "IamRoleArn": "arn:aws:iam::1:role/x",
                     "DeliveryStreamArn": "arn:aws:firehose:eu-central-1:1:deliverystream/x"}})
check("optbox-webhook-" in m, m)
expect_error("BadRequestException", ses.create_configuration_set_event_destination,
             ConfigurationSetName="marketing", EventDestinationName="other",
             EventDestination={"MatchingEventTypes": ["SEND"],
                               "SnsDestination": {"TopicArn": "arn:aws:sns:eu-central-1:1:mine"}})
expect_error("NotFoundException", ses.create_configuration_set_event_destination,
             ConfigurationSetName="marketing", EventDestinationName="gone",
             EventDestination={"MatchingEventTypes": ["SEND"], "SnsDestination": {
                 "TopicArn": "arn:aws:sns:eu-central-1:1:optbox-webhook-999999"}})
expect_error("BadRequestException", ses.create_configuration_set_event_destination,
             ConfigurationSetName="marketing", EventDestinationName="typo",
             EventDestination={"MatchingEventTypes": ["SENDS"], "SnsDestination": {"TopicArn": arn}})
expect_error("NotFoundException", ses.create_configuration_set_event_destination,
             ConfigurationSetName="nope", EventDestinationName="hook",
             EventDestination={"MatchingEventTypes": ["SEND"], "SnsDestination": {"TopicArn": arn}})
cli("update-configuration-set-event-destination", "--configuration-set-name", "marketing",
    "--event-destination-name", "hook", "--event-destination",
    json.dumps({"Enabled": False, "MatchingEventTypes": ["BOUNCE"], "SnsDestination": {"TopicArn": arn}}))
d = cli("get-configuration-set-event-destinations", "--configuration-set-name",
        "marketing")["EventDestinations"]
check(d[0]["Enabled"] is False and d[0]["MatchingEventTypes"] == ["BOUNCE"], d)
expect_error("NotFoundException", ses.update_configuration_set_event_destination,
             ConfigurationSetName="marketing", EventDestinationName="nothing",
             EventDestination={"MatchingEventTypes": ["SEND"], "SnsDestination": {"TopicArn": arn}})
ses.delete_configuration_set_event_destination(ConfigurationSetName="marketing",
                                               EventDestinationName="hook")
check(ses.get_configuration_set_event_destinations(
    ConfigurationSetName="marketing")["EventDestinations"] == [], "deleted")
expect_error("NotFoundException", ses.delete_configuration_set_event_destination,
             ConfigurationSetName="marketing", EventDestinationName="hook")


# SendEmail with a configuration set.
def send(config_set):
    return ses.send_email(FromEmailAddress="news@example.com",
                          Destination={"ToAddresses": ["ann@example.org"]},
                          ConfigurationSetName=config_set,
                          Content={"Simple": {"Subject": {"Data": "Hi"},
                                              "Body": {"Text": {"Data": "x"}}}})


check(send("marketing")["MessageId"], "a message sent with a set")
m = expect_error("NotFoundException", send, status=404, config_set="nope")
check(m == "Configuration set <nope> does not exist.", m)
cli("put-configuration-set-sending-options", "--configuration-set-name", "marketing",
    "--no-sending-enabled")
expect_error("SendingPausedException", send, config_set="marketing")
cli("put-configuration-set-sending-options", "--configuration-set-name", "marketing",
    "--sending-enabled")
check(send("marketing")["MessageId"], "sending resumed")

# Deleted, with its destinations.
cli("delete-configuration-set", "--configuration-set-name", "marketing")
expect_error("NotFoundException", ses.get_configuration_set, ConfigurationSetName="marketing")
expect_error("NotFoundException", ses.delete_configuration_set, ConfigurationSetName="marketing")
expect_error("NotFoundException", ses.get_configuration_set_event_destinations,
             ConfigurationSetName="marketing")
done()
