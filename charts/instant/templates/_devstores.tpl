{{/*
What every dev store has besides its workload: a ServiceAccount without a token, a
ClusterIP Service, a PDB (one replica; it only keeps drains orderly) and a NetworkPolicy
that lets instant's own pods in. Argument: dict "ctx" $ "name" <store> "ports" (list
(dict "name" "port")) "nodePort" <port or 0> "openPorts" (ports anyone may reach) "headless" <bool>.
*/}}
{{- define "instant.devStoreCommon" -}}
{{- $root := .ctx -}}
{{- $np := .nodePort -}}
{{- $full := printf "instant-%s" .name -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $full }}
  labels:
    {{- include "instant.labels" (dict "ctx" $root "name" $full "component" "dev-store") | nindent 4 }}
automountServiceAccountToken: false
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $full }}
  labels:
    {{- include "instant.labels" (dict "ctx" $root "name" $full "component" "dev-store") | nindent 4 }}
spec:
  type: {{ if .nodePort }}NodePort{{ else }}ClusterIP{{ end }}
  {{- if get . "headless" }}
  # Headless: the StatefulSet's governing Service; clients resolve the pod directly.
  clusterIP: None
  {{- end }}
  selector:
    {{- include "instant.selectorLabels" (dict "ctx" $root "name" $full "component" "dev-store") | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
      {{- if and $np (hasKey . "nodePort") }}
      nodePort: {{ .nodePort }}
      {{- end }}
    {{- end }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $full }}
  labels:
    {{- include "instant.labels" (dict "ctx" $root "name" $full "component" "dev-store") | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "instant.selectorLabels" (dict "ctx" $root "name" $full "component" "dev-store") | nindent 6 }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $full }}
  labels:
    {{- include "instant.labels" (dict "ctx" $root "name" $full "component" "dev-store") | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "instant.selectorLabels" (dict "ctx" $root "name" $full "component" "dev-store") | nindent 6 }}
  policyTypes: ["Ingress", "Egress"]
  ingress:
    - from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/part-of: instant
      ports:
        {{- range .ports }}
        - port: {{ .port }}
          protocol: TCP
        {{- end }}
    {{- with .openPorts }}
    # Reached from outside the namespace (kind: the node port for a browser).
    - ports:
        {{- range . }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
  egress:
    - {}
{{- end -}}

{{/* The dev store's pod template metadata. Argument: dict "ctx" $ "name" <store>. */}}
{{- define "instant.devStorePodMeta" -}}
labels:
  {{- include "instant.labels" (dict "ctx" .ctx "name" (printf "instant-%s" .name) "component" "dev-store") | nindent 2 }}
annotations:
  # Dev stores stay outside the mesh: services reach them through the sidecar's
  # passthrough, as they would reach a managed database.
  consul.hashicorp.com/connect-inject: "false"
{{- end -}}
