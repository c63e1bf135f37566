{{/*
Names and labels. A service's resources are named after the service itself (the chart
name): the Kubernetes Service name is the name the gateway's dns discovery dials, the
name Consul registers and the name ServiceIntentions refer to, and with Consul ACLs the
ServiceAccount must carry it too. One instant per namespace, therefore.
*/}}
{{- define "instant-lib.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "instant-lib.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The image tag, shared by labels and the image reference. */}}
{{- define "instant-lib.tag" -}}
{{- $g := (.Values.global).image | default dict -}}
{{- .Values.image.tag | default $g.tag | default .Chart.AppVersion | toString -}}
{{- end -}}

{{/*
Selector labels: name, instance and component; immutable once installed. The component
keeps the Service and the PDB off the migration Job's and the test's pods.
Argument: dict "ctx" $ "component" <component>.
*/}}
{{- define "instant-lib.selectorLabelsFor" -}}
app.kubernetes.io/name: {{ include "instant-lib.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels). */}}
{{- define "instant-lib.labelsFor" -}}
{{ include "instant-lib.selectorLabelsFor" . }}
app.kubernetes.io/part-of: instant
app.kubernetes.io/version: {{ include "instant-lib.versionLabel" .ctx | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ include "instant-lib.chart" .ctx }}
{{- end -}}

{{/* The tag as a label value: [-_.A-Za-z0-9], at most 63, alphanumeric at both ends. */}}
{{- define "instant-lib.versionLabel" -}}
{{- $v := regexReplaceAll "[^-_.A-Za-z0-9]" (include "instant-lib.tag" .) "_" | trunc 63 -}}
{{- regexReplaceAll "^[^A-Za-z0-9]+|[^A-Za-z0-9]+$" $v "" -}}
{{- end -}}

{{- define "instant-lib.selectorLabels" -}}
{{ include "instant-lib.selectorLabelsFor" (dict "ctx" . "component" "server") }}
{{- end -}}

{{- define "instant-lib.labels" -}}
{{ include "instant-lib.labelsFor" (dict "ctx" . "component" "server") }}
{{- end -}}

{{/*
The image reference. Tags are required and never "latest"; a tag may carry a digest
("1.2.3@sha256:…", what skaffold passes) or be a bare digest ("sha256:…").
*/}}
{{- define "instant-lib.image" -}}
{{- $g := (.Values.global).image | default dict -}}
{{- $repo := .Values.image.repository | default (printf "%s/%s" ($g.registry | default "instant") (include "instant-lib.name" .)) -}}
{{- $tag := include "instant-lib.tag" . -}}
{{- if or (eq $tag "") (eq $tag "latest") (hasPrefix "latest@" $tag) -}}
{{- fail (printf "%s: image tag must be pinned (got %q); set global.image.tag or %s.image.tag" (include "instant-lib.name" .) $tag (include "instant-lib.name" .)) -}}
{{- end -}}
{{- if hasPrefix "sha256:" $tag -}}
{{- printf "%s@%s" $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{- define "instant-lib.pullPolicy" -}}
{{- .Values.image.pullPolicy | default ((.Values.global).image).pullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{- define "instant-lib.connectInject" -}}
{{- if ((.Values.global).consul).connectInject }}true{{ end -}}
{{- end -}}

{{/*
GOMEMLIMIT: 90% of the memory limit, leaving the rest for what the Go heap does not
account (stacks, buffers, the runtime itself), so the GC works harder before the kernel's
OOM killer would. Empty when the limit is not written in Mi or Gi; the caller then falls
back to the whole limit through the downward API.
*/}}
{{- define "instant-lib.goMemLimit" -}}
{{- $m := toString ((.Values.resources).limits).memory -}}
{{- $mib := 0 -}}
{{- if regexMatch "^[0-9]+Mi$" $m -}}
{{- $mib = trimSuffix "Mi" $m | atoi -}}
{{- else if regexMatch "^[0-9]+Gi$" $m -}}
{{- $mib = mul (trimSuffix "Gi" $m | atoi) 1024 -}}
{{- end -}}
{{- if gt $mib 0 -}}
{{- printf "%dMiB" (div (mul $mib 9) 10) -}}
{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: the drain, the shutdown deadline and a margin. */}}
{{- define "instant-lib.terminationGrace" -}}
{{- add .Values.shutdown.drainDelaySeconds .Values.shutdown.timeoutSeconds .Values.shutdown.graceMarginSeconds -}}
{{- end -}}

{{/*
The KafkaUser a service signs in to Kafka as: the umbrella chart's kafka-users.yaml
names each one so, and Strimzi's User Operator writes its SCRAM password to a Secret of
the same name (key "password"). Argument: dict "release" <release name> "service" <service>.
*/}}
{{- define "instant-lib.kafkaUser" -}}
{{- printf "%s-%s" .release .service -}}
{{- end -}}

{{/*
Whether the service signs in to Kafka: global.kafka.authentication is on and the
service talks to Kafka, which is to say its env names KAFKA_BROKERS.
*/}}
{{- define "instant-lib.kafkaAuth" -}}
{{- if and ((.Values.global.kafka).authentication).enabled (get (.Values.env | default dict) "KAFKA_BROKERS") }}true{{ end -}}
{{- end -}}

{{/*
The container environment, shared by the Deployment and the migration Job so both see
the same configuration. Argument: dict "ctx" $ "container" <container name>
"kafkaCredentials" <bool>.
Order: the platform/service.Base contract, the runtime, the Kafka credentials, then env
and secretEnv sorted.

The Kafka credentials (KAFKA_SASL_*, with global.kafka.authentication) go to the
Deployment only: the migration Job does not talk to Kafka, and as a pre-install hook it
runs before the KafkaUser, and so the Secret with its password, exists.
*/}}
{{- define "instant-lib.env" -}}
{{- $ := .ctx -}}
{{- $v := $.Values -}}
{{- $reserved := list "HTTP_ADDR" "INTERNAL_ADDR" "SHUTDOWN_TIMEOUT" "DRAIN_DELAY" "IDENTITY_SECRET" "GOMAXPROCS" "GOMEMLIMIT" -}}
{{- $kafkaAuth := include "instant-lib.kafkaAuth" $ -}}
{{- if $kafkaAuth }}
{{- $reserved = concat $reserved (list "KAFKA_SASL_MECHANISM" "KAFKA_SASL_USERNAME" "KAFKA_SASL_PASSWORD") }}
{{- end }}
{{- range $k, $_ := $v.env }}
{{- if has $k $reserved }}{{ fail (printf "%s: env.%s is set by the chart; use the matching value (ports, shutdown, resources, global.identitySecret, global.kafka.authentication)" (include "instant-lib.name" $) $k) }}{{ end }}
{{- if hasKey ($v.secretEnv | default dict) $k }}{{ fail (printf "%s: %s is in both env and secretEnv" (include "instant-lib.name" $) $k) }}{{ end }}
{{- end }}
{{- range $k, $_ := $v.secretEnv }}
{{- if has $k $reserved }}{{ fail (printf "%s: secretEnv.%s is set by the chart" (include "instant-lib.name" $) $k) }}{{ end }}
{{- end }}
- name: HTTP_ADDR
  value: ":{{ $v.ports.http }}"
- name: INTERNAL_ADDR
  value: ":{{ $v.ports.internal }}"
- name: SHUTDOWN_TIMEOUT
  value: "{{ $v.shutdown.timeoutSeconds }}s"
- name: DRAIN_DELAY
  value: "{{ $v.shutdown.drainDelaySeconds }}s"
- name: IDENTITY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ required "global.identitySecret.existingSecret is required" $v.global.identitySecret.existingSecret }}
      key: {{ $v.global.identitySecret.key | default "IDENTITY_SECRET" }}
- name: GOMAXPROCS
  valueFrom:
    resourceFieldRef:
      containerName: {{ .container }}
      resource: limits.cpu
      divisor: "1"
- name: GOMEMLIMIT
{{- with include "instant-lib.goMemLimit" $ }}
  value: {{ . | quote }}
{{- else }}
  valueFrom:
    resourceFieldRef:
      containerName: {{ .container }}
      resource: limits.memory
{{- end }}
{{- if not (hasKey ($v.env | default dict) "LOG_LEVEL") }}
- name: LOG_LEVEL
  value: {{ $v.global.logLevel | default "info" | quote }}
{{- end }}
{{- if and $kafkaAuth .kafkaCredentials }}
{{- $user := include "instant-lib.kafkaUser" (dict "release" $.Release.Name "service" $.Chart.Name) }}
# The service's KafkaUser (the umbrella chart's kafka-users.yaml) and the password
# Strimzi's User Operator keeps in the Secret of the same name.
- name: KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: KAFKA_SASL_USERNAME
  value: {{ $user | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $user }}
      key: password
{{- end }}
{{- range $k := keys ($v.env | default dict) | sortAlpha }}
{{- $raw := get $v.env $k }}
{{- $val := "" }}
{{- if not (kindIs "invalid" $raw) }}{{ $val = tpl (toString $raw) $ }}{{ end }}
{{- /* An empty value means "unset": the service then applies its own default. */}}
{{- if ne $val "" }}
- name: {{ $k }}
  value: {{ $val | quote }}
{{- end }}
{{- end }}
{{- range $k := keys ($v.secretEnv | default dict) | sortAlpha }}
{{- $ref := get $v.secretEnv $k }}
- name: {{ $k }}
  valueFrom:
    secretKeyRef:
      name: {{ tpl $ref.existingSecret $ }}
      key: {{ get $ref "key" | default $k }}
      {{- if get $ref "optional" }}
      optional: true
      {{- end }}
{{- end }}
{{- end -}}

{{/* Pod-level security: restricted Pod Security Standard. */}}
{{- define "instant-lib.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security: restricted Pod Security Standard. */}}
{{- define "instant-lib.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Consul Connect annotations of a service pod. */}}
{{- define "instant-lib.consulAnnotations" -}}
{{- if include "instant-lib.connectInject" . }}
consul.hashicorp.com/connect-inject: "true"
consul.hashicorp.com/transparent-proxy: "true"
consul.hashicorp.com/connect-service-port: "http"
# Probes and Prometheus reach the internal port directly; only the public port is meshed.
consul.hashicorp.com/transparent-proxy-exclude-inbound-ports: {{ .Values.ports.internal | quote }}
# Keep the sidecar up while the service drains, so in-flight requests can finish.
consul.hashicorp.com/sidecar-proxy-lifecycle-shutdown-grace-period-seconds: {{ add .Values.shutdown.drainDelaySeconds .Values.shutdown.timeoutSeconds | quote }}
{{- else }}
consul.hashicorp.com/connect-inject: "false"
{{- end }}
{{- end -}}
