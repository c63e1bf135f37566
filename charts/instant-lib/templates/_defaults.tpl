{{/*
The defaults of every instant service chart. A service chart's values.yaml sets only
what is its own (env, secretEnv, intentions, migrations, resources); everything else
comes from here, key by key, so a service that sets `pdb.enabled: false` keeps every
other default. The schema of the merged values is service-values.schema.json.
*/}}
{{- define "instant-lib.defaults" -}}
enabled: true
nameOverride: ""

global:
  image:
    # Images are <registry>/<service>:<tag>; `make images` builds instant/<service>:<VERSION>.
    registry: instant
    # Empty: the chart's appVersion. Never "latest".
    tag: ""
    # Pinned tags make Always cheap (a manifest check); kind overrides it, its images
    # are loaded onto the node.
    pullPolicy: Always
  imagePullSecrets: []
  logLevel: info
  # IDENTITY_SECRET (≥ 32 bytes), shared by the gateway and every service.
  identitySecret:
    existingSecret: instant-identity
    key: IDENTITY_SECRET
  consul:
    connectInject: true
    inboundPort: 20000
    apiGatewayName: instant-api-gateway
  kafka:
    bootstrapServers: instant-kafka-bootstrap:9092
    # Sign in as the service's KafkaUser (<release>-<service>, SCRAM-SHA-512), with the
    # password from the Secret Strimzi writes for it. The umbrella chart creates the
    # users; a service that reads no KAFKA_BROKERS gets no credentials.
    authentication:
      enabled: false

image:
  repository: ""   # default <global.image.registry>/<service>
  tag: ""          # default global.image.tag
  pullPolicy: ""   # default global.image.pullPolicy

replicaCount: 2
ports:
  http: 8080
  internal: 9090
logLevel: ""       # default global.logLevel

resources:
  requests:
    cpu: 100m
    memory: 128Mi
    ephemeral-storage: 64Mi
  limits:
    cpu: "1"
    memory: 256Mi
    ephemeral-storage: 512Mi

# DRAIN_DELAY and SHUTDOWN_TIMEOUT; the pod's terminationGracePeriodSeconds is their sum
# plus the margin, so the kubelet never kills a draining process.
shutdown:
  drainDelaySeconds: 5
  timeoutSeconds: 20
  graceMarginSeconds: 10

probes:
  # Start-up includes connecting the stores and applying migrations.
  startup:
    periodSeconds: 2
    failureThreshold: 90
  liveness:
    periodSeconds: 10
    failureThreshold: 3
  readiness:
    periodSeconds: 5
    failureThreshold: 2

env: {}
secretEnv: {}
envFrom: []
podLabels: {}
podAnnotations: {}
serviceAccount:
  annotations: {}
priorityClassName: ""
nodeSelector: {}
tolerations: []
affinity: {}
topologySpreadConstraints: []

pdb:
  enabled: true
  maxUnavailable: 1

hpa:
  enabled: false
  minReplicas: 2
  maxReplicas: 6
  targetCPUUtilizationPercentage: 70

networkPolicy:
  enabled: true
  extraIngressFrom: []
  metricsFrom:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: monitoring
  # Stores (PostgreSQL, Redis, Kafka, S3, SMTP), DNS and the Consul servers live in
  # different places per cluster; narrow this per environment.
  egress:
    - {}

serviceMonitor:
  enabled: false
  interval: 30s
  scrapeTimeout: 10s
  labels: {}

# Consul ServiceIntentions (and the matching NetworkPolicy ingress).
intentions:
  fromGateway: true
  fromAPIGateway: false
  allowFrom: []

migrations:
  enabled: false
  args: ["migrate"]
  hookEvents: pre-install,pre-upgrade
  backoffLimit: 2
  activeDeadlineSeconds: 300
{{- end -}}

{{/*
Fills the keys of .dst that are missing with those of .src, recursing into maps. Unlike
sprig's merge, a false, 0 or "" in .dst is kept: it was written on purpose.
*/}}
{{- define "instant-lib.mergeDefaults" -}}
{{- $dst := .dst -}}
{{- range $k, $v := .src -}}
{{- if not (hasKey $dst $k) -}}
{{- $_ := set $dst $k (deepCopy $v) -}}
{{- else if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "instant-lib.mergeDefaults" (dict "dst" (get $dst $k) "src" $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}
