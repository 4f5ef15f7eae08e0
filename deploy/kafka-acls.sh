#!/bin/sh
# Issue 26: one SCRAM-SHA-512 principal per service and the ACLs that let each write only
# its own topics (contracts.topics.TOPIC_PRODUCERS) and read the topics it consumes.
# Run as the super user `admin` against a broker's BROKER listener (compose: broker-auth);
# idempotent. Passwords come from KAFKA_PASSWORD_<NAME>; ADMIN_PASSWORD is admin's.
set -eu
BOOTSTRAP="$1"
BIN=/opt/kafka/bin
CONF=/tmp/admin.properties
printf 'security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="%s";\n' \
  "$ADMIN_PASSWORD" > "$CONF"

SERVICES="accounts consent listings messaging retention"
EVENTS=""
for s in $SERVICES; do EVENTS="$EVENTS $s.events.v1"; done

user() {  # user NAME PASSWORD
  "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$CONF" --alter \
    --entity-type users --entity-name "$1" --add-config "SCRAM-SHA-512=[password=$2]"
}
acl() {  # acl PRINCIPAL OPERATION TOPIC...
  principal="$1"; op="$2"; shift 2
  for t in "$@"; do
    "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$CONF" --add \
      --allow-principal "User:$principal" --operation "$op" --topic "$t" >/dev/null
  done
}
groups() {  # groups PRINCIPAL PREFIX: the consumer groups the principal may join
  "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$CONF" --add \
    --allow-principal "User:$1" --operation Read --group "$2" \
    --resource-pattern-type prefixed >/dev/null
}
password() { eval "printf %s \"\${KAFKA_PASSWORD_$(echo "$1" | tr a-z A-Z)}\""; }

for s in $SERVICES gateway auditor topics; do user "$s" "$(password "$s")"; done

for s in $SERVICES; do
  # writes: its events and dead letters only (accounts also its public profiles)
  acl "$s" Write "$s.events.v1" "$s.dead-letter.v1"
  acl "$s" Describe "$s.events.v1" "$s.dead-letter.v1" platform.broker-epoch.v1
  # reads: every service's events (each verifies the producer's signature) and the epoch
  acl "$s" Read $EVENTS platform.broker-epoch.v1
  acl "$s" Describe $EVENTS
  groups "$s" "$s."
done
acl accounts Write accounts.public-profiles.v1
acl accounts Describe accounts.public-profiles.v1

# the gateway's ops feed tails every topic and writes none
for t in $EVENTS accounts.public-profiles.v1 platform.broker-epoch.v1 \
         platform.stream-heads.v1; do acl gateway Read "$t"; acl gateway Describe "$t"; done
for s in $SERVICES; do acl gateway Read "$s.dead-letter.v1"; acl gateway Describe "$s.dead-letter.v1"; done

# the auditor (marketplace-audit seal/verify/replay) reads the log, writes only the seals
acl auditor Read $EVENTS platform.stream-heads.v1
acl auditor Describe $EVENTS platform.stream-heads.v1
acl auditor Write platform.stream-heads.v1

# the topics job creates the topics and marks the broker epoch
"$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$CONF" --add \
  --allow-principal User:topics --operation Create --operation Describe --cluster >/dev/null
acl topics Write platform.broker-epoch.v1
acl topics Read platform.broker-epoch.v1
echo "broker-auth: principals and ACLs in place"
