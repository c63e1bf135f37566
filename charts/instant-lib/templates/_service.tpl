{{/*
instant-lib.service renders every object of one instant service. A service chart's only
template is:   {{ include "instant-lib.service" . }}
*/}}
{{- define "instant-lib.service" -}}
{{- $values := deepCopy .Values -}}
{{- $_ := include "instant-lib.mergeDefaults" (dict "dst" $values "src" (include "instant-lib.defaults" . | fromYaml)) -}}
{{- $ctx := dict "Values" $values "Release" .Release "Chart" .Chart "Capabilities" .Capabilities "Template" .Template "Files" .Files -}}
{{- if $values.enabled }}
{{ include "instant-lib.serviceAccount" $ctx }}
---
{{ include "instant-lib.deployment" $ctx }}
---
{{ include "instant-lib.k8sService" $ctx }}
{{- if $values.pdb.enabled }}
---
{{ include "instant-lib.pdb" $ctx }}
{{- end }}
{{- if $values.hpa.enabled }}
---
{{ include "instant-lib.hpa" $ctx }}
{{- end }}
{{- if $values.networkPolicy.enabled }}
---
{{ include "instant-lib.networkPolicy" $ctx }}
{{- end }}
{{- if $values.serviceMonitor.enabled }}
---
{{ include "instant-lib.serviceMonitor" $ctx }}
{{- end }}
{{- if include "instant-lib.connectInject" $ctx }}
---
{{ include "instant-lib.serviceDefaults" $ctx }}
{{- with include "instant-lib.serviceIntentions" $ctx }}
---
{{ . }}
{{- end }}
{{- end }}
{{- if $values.migrations.enabled }}
---
{{ include "instant-lib.migrationJob" $ctx }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "instant-lib.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "instant-lib.name" . }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# The pod decides (it needs the token only for Consul's ACL login).
automountServiceAccountToken: false
{{- end -}}

{{- define "instant-lib.deployment" -}}
{{- $name := include "instant-lib.name" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
spec:
  {{- if not .Values.hpa.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "instant-lib.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "instant-lib.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        kubectl.kubernetes.io/default-container: {{ $name }}
        {{- include "instant-lib.consulAnnotations" . | nindent 8 }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ $name }}
      # consul-k8s logs the sidecar in to Consul's ACL system with the pod's token.
      automountServiceAccountToken: {{ include "instant-lib.connectInject" . | eq "true" }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ include "instant-lib.terminationGrace" . }}
      securityContext:
        {{- include "instant-lib.podSecurityContext" . | nindent 8 }}
      {{- with .Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      affinity:
        {{- if .Values.affinity }}
        {{- toYaml .Values.affinity | nindent 8 }}
        {{- else }}
        # Spread replicas over nodes when the cluster has them; never block scheduling.
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- include "instant-lib.selectorLabels" . | nindent 20 }}
        {{- end }}
      {{- with .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $name }}
          image: {{ include "instant-lib.image" . | quote }}
          imagePullPolicy: {{ include "instant-lib.pullPolicy" . }}
          ports:
            - name: http
              containerPort: {{ .Values.ports.http }}
              protocol: TCP
            - name: internal
              containerPort: {{ .Values.ports.internal }}
              protocol: TCP
          env:
            {{- include "instant-lib.env" (dict "ctx" . "container" $name "kafkaCredentials" true) | nindent 12 }}
          {{- with .Values.envFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          # Probes hit the internal listener: /livez is the process, /readyz its
          # dependencies (and fails as soon as a shutdown starts draining).
          startupProbe:
            httpGet:
              path: /livez
              port: internal
            periodSeconds: {{ .Values.probes.startup.periodSeconds }}
            failureThreshold: {{ .Values.probes.startup.failureThreshold }}
            timeoutSeconds: 2
          livenessProbe:
            httpGet:
              path: /livez
              port: internal
            periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
            failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
            timeoutSeconds: 2
          readinessProbe:
            httpGet:
              path: /readyz
              port: internal
            periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
            failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
            # /readyz pings each dependency with a 2s timeout.
            timeoutSeconds: 3
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "instant-lib.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- end -}}

{{- define "instant-lib.k8sService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "instant-lib.name" . }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "instant-lib.selectorLabels" . | nindent 4 }}
  ports:
    # The first port is the one Consul registers (connect-service-port names it too).
    - name: http
      port: {{ .Values.ports.http }}
      targetPort: http
      protocol: TCP
      appProtocol: http
    - name: internal
      port: {{ .Values.ports.internal }}
      targetPort: internal
      protocol: TCP
      appProtocol: http
{{- end -}}

{{- define "instant-lib.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "instant-lib.name" . }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .Values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "instant-lib.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "instant-lib.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "instant-lib.name" . }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "instant-lib.name" . }}
  minReplicas: {{ .Values.hpa.minReplicas }}
  maxReplicas: {{ .Values.hpa.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.hpa.targetCPUUtilizationPercentage }}
{{- end -}}

{{/*
Ingress: the public port (and the Connect sidecar's inbound port when the pod is in the
mesh) from the callers this service accepts; the internal port (metrics, pprof) from the
monitoring peers only. Probes come from the kubelet on the node, which network policies
do not filter. Egress is spelled out from values (default: anywhere), because where the
stores live differs per cluster.
*/}}
{{- define "instant-lib.networkPolicy" -}}
{{- $g := .Values.global -}}
{{- $peers := list -}}
{{- if .Values.intentions.fromGateway -}}
{{- $peers = append $peers (dict "podSelector" (dict "matchLabels" (dict "app.kubernetes.io/name" "gateway" "app.kubernetes.io/instance" .Release.Name))) -}}
{{- end -}}
{{- if .Values.intentions.fromAPIGateway -}}
{{- $peers = append $peers (dict "podSelector" (dict "matchLabels" (dict "gateway.consul.hashicorp.com/name" $g.consul.apiGatewayName "gateway.consul.hashicorp.com/managed" "true"))) -}}
{{- end -}}
{{- range .Values.intentions.allowFrom -}}
{{- $peers = append $peers (dict "podSelector" (dict "matchLabels" (dict "app.kubernetes.io/name" .name "app.kubernetes.io/instance" $.Release.Name))) -}}
{{- end -}}
{{- $peers = concat $peers (.Values.networkPolicy.extraIngressFrom | default list) -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "instant-lib.name" . }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
spec:
  # The service's pods and its migration job.
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ include "instant-lib.name" . }}
      app.kubernetes.io/instance: {{ .Release.Name }}
  policyTypes: ["Ingress", "Egress"]
  ingress:
    {{- if $peers }}
    - from:
        {{- toYaml $peers | nindent 8 }}
      ports:
        - port: {{ .Values.ports.http }}
          protocol: TCP
        {{- if include "instant-lib.connectInject" . }}
        - port: {{ $g.consul.inboundPort }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- with .Values.networkPolicy.metricsFrom }}
    - from:
        {{- toYaml . | nindent 8 }}
      ports:
        - port: {{ $.Values.ports.internal }}
          protocol: TCP
    {{- end }}
  egress:
    {{- toYaml .Values.networkPolicy.egress | nindent 4 }}
{{- end -}}

{{- define "instant-lib.serviceMonitor" -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "instant-lib.name" . }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
    {{- with .Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "instant-lib.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: internal
      path: /metrics
      interval: {{ .Values.serviceMonitor.interval }}
      scrapeTimeout: {{ .Values.serviceMonitor.scrapeTimeout }}
{{- end -}}

{{- define "instant-lib.serviceDefaults" -}}
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceDefaults
metadata:
  name: {{ include "instant-lib.name" . }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
spec:
  protocol: http
{{- end -}}

{{/*
ServiceIntentions for this service: allow the callers it has, nothing else (the
umbrella chart's "*" intention denies the rest). Empty when nobody may call it.
*/}}
{{- define "instant-lib.serviceIntentions" -}}
{{- $sources := list -}}
{{- if .Values.intentions.fromGateway -}}
{{- $sources = append $sources (dict "name" "gateway" "action" "allow" "description" "the gateway routes public requests here") -}}
{{- end -}}
{{- if .Values.intentions.fromAPIGateway -}}
{{- $sources = append $sources (dict "name" .Values.global.consul.apiGatewayName "action" "allow" "description" "the Consul API gateway forwards all public traffic here") -}}
{{- end -}}
{{- range .Values.intentions.allowFrom -}}
{{- $sources = append $sources (dict "name" .name "action" "allow" "description" .reason) -}}
{{- end -}}
{{- if $sources -}}
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceIntentions
metadata:
  name: {{ include "instant-lib.name" . }}
  labels:
    {{- include "instant-lib.labels" . | nindent 4 }}
spec:
  destination:
    name: {{ include "instant-lib.name" . }}
  sources:
    {{- toYaml $sources | nindent 4 }}
{{- end -}}
{{- end -}}

{{/*
Migrations run as a hook Job before the new version's pods (pre-install, pre-upgrade):
the service's image with the `migrate` argument, the service's environment. Hook
objects exist before the release's ordinary objects, so the Job uses the namespace's
default ServiceAccount without a token, and its environment is inline.
*/}}
{{- define "instant-lib.migrationJob" -}}
{{- $name := include "instant-lib.name" . -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $name }}-migrate
  labels:
    {{- include "instant-lib.labelsFor" (dict "ctx" . "component" "migration") | nindent 4 }}
  annotations:
    helm.sh/hook: {{ .Values.migrations.hookEvents | quote }}
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ .Values.migrations.backoffLimit }}
  # A binary without the migrate command would serve instead of exiting: bound it.
  activeDeadlineSeconds: {{ .Values.migrations.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: 3600
  template:
    metadata:
      labels:
        {{- include "instant-lib.labelsFor" (dict "ctx" . "component" "migration") | nindent 8 }}
      annotations:
        # A Job's pod must end; a sidecar would keep it running.
        consul.hashicorp.com/connect-inject: "false"
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        {{- include "instant-lib.podSecurityContext" . | nindent 8 }}
      {{- with .Values.global.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: migrate
          image: {{ include "instant-lib.image" . | quote }}
          imagePullPolicy: {{ include "instant-lib.pullPolicy" . }}
          args:
            {{- toYaml .Values.migrations.args | nindent 12 }}
          env:
            {{- /* No Kafka credentials: see instant-lib.env. */}}
            {{- include "instant-lib.env" (dict "ctx" . "container" "migrate" "kafkaCredentials" false) | nindent 12 }}
          {{- with .Values.envFrom }}
          envFrom:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "instant-lib.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
{{- end -}}
