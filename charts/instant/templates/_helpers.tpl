{{/* Labels of an object of the umbrella chart. Argument: dict "ctx" $ "name" <name> "component" <component>. */}}
{{- define "instant.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "instant.labels" -}}
{{ include "instant.selectorLabels" . }}
app.kubernetes.io/part-of: instant
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels of objects Strimzi reconciles into the Kafka cluster. */}}
{{- define "instant.kafkaLabels" -}}
strimzi.io/cluster: {{ .Values.kafka.clusterName }}
app.kubernetes.io/part-of: instant
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Is a service (subchart) enabled? Argument: dict "ctx" $ "name" <service>. */}}
{{- define "instant.serviceEnabled" -}}
{{- if hasKey .ctx.Values .name -}}
{{- if (get .ctx.Values .name).enabled }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/* The services of this release, in dependency order, enabled ones only. */}}
{{- define "instant.services" -}}
{{- $out := list -}}
{{- range .Chart.Dependencies -}}
{{- if and (ne .Name "instant-lib") (include "instant.serviceEnabled" (dict "ctx" $ "name" .Name)) -}}
{{- $out = append $out .Name -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Where a client reaches instant from inside the cluster (the helm test; the load generator by default). */}}
{{- define "instant.clientBaseURL" -}}
{{- if .Values.tests.baseURL -}}
{{- .Values.tests.baseURL -}}
{{- else if .Values.apiGateway.enabled -}}
{{- printf "http://%s:%d" .Values.global.consul.apiGatewayName (int .Values.apiGateway.listener.port) -}}
{{- else -}}
http://gateway:8080
{{- end -}}
{{- end -}}

{{/* The dev SMTP sink's HTTP API, if any (the helm test; the load generator by default). */}}
{{- define "instant.inboxURL" -}}
{{- if .Values.tests.inboxURL -}}
{{- .Values.tests.inboxURL -}}
{{- else if and .Values.devStores.enabled .Values.devStores.mailpit.enabled -}}
http://instant-mailpit:8025
{{- end -}}
{{- end -}}

{{/*
Where a client inside the cluster connects for the S3 store that presigned URLs name
(files' S3_PUBLIC_ENDPOINT, the address outside the cluster): the in-chart store's
Service, keeping the URL as signed (the host is part of the signature); empty: the
URL's own host. Used by the helm test and the load generator.
*/}}
{{- define "instant.s3ConnectTo" -}}
{{- if and .Values.devStores.enabled .Values.devStores.s3.enabled -}}
instant-s3:7070
{{- end -}}
{{- end -}}

{{/* Restricted pod security, for the chart's own pods (dev stores, tests, load generator). */}}
{{- define "instant.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "instant.containerSecurityContext" -}}
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
