{{/*
Names, labels, addresses and the per-service flag set, shared by every template.
A "component" is one Parley service (identity, feed, search, notify, federation) or "allinone".
Helpers that need a component take (dict "root" $ "component" "feed").
*/}}

{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 30 | trimSuffix "-" -}}
{{- end -}}

{{/* Resource name prefix, at most 30 characters so "<prefix>-federation-headless" fits in 63. */}}
{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 30 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "parley.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's resources: "<prefix>-<component>". */}}
{{- define "parley.componentName" -}}
{{- printf "%s-%s" (include "parley.fullname" .root) .component -}}
{{- end -}}

{{- define "parley.commonLabels" -}}
helm.sh/chart: {{ include "parley.chart" . }}
app.kubernetes.io/part-of: parley
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Release-wide labels for objects that belong to no single component (Secrets, Ingress). */}}
{{- define "parley.labels" -}}
{{ include "parley.commonLabels" . }}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of a component's pods; immutable once a StatefulSet exists. */}}
{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "parley.componentLabels" -}}
{{ include "parley.commonLabels" .root }}
{{ include "parley.selectorLabels" . }}
{{- end -}}

{{- define "parley.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "parley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "parley.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The five services, in deployment order. */}}
{{- define "parley.services" -}}
{{- list "identity" "feed" "search" "notify" "federation" | toJson -}}
{{- end -}}

{{/*
Components deployed by this release, as a YAML list (read with fromYamlArray): "allinone", or
every service whose <service>.enabled is true. A disabled service renders nothing.
*/}}
{{- define "parley.components" -}}
{{- if .Values.allInOne.enabled }}
- allinone
{{- else }}
{{- range $c := include "parley.services" . | fromJsonArray }}
{{- if (index $.Values $c).enabled }}
- {{ $c }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
"true" when a service runs in its own StatefulSet in this release (not allInOne, <service>.enabled).
Argument: (dict "root" $ "component" "feed").
*/}}
{{- define "parley.serviceEnabled" -}}
{{- if and (not .root.Values.allInOne.enabled) (index .root.Values .component).enabled }}true{{ end -}}
{{- end -}}

{{/* "true" when this release serves a service: its own StatefulSet, or the all-in-one pod. */}}
{{- define "parley.serves" -}}
{{- if or .root.Values.allInOne.enabled (index .root.Values .component).enabled }}true{{ end -}}
{{- end -}}

{{/* "true" when the in-chart Redis is rendered: redis.enabled and something uses it (notify or allInOne). */}}
{{- define "parley.redisInChart" -}}
{{- if and .Values.redis.enabled (or .Values.allInOne.enabled .Values.notify.enabled) }}true{{ end -}}
{{- end -}}

{{/* Key under .Values holding a component's settings. */}}
{{- define "parley.valuesKey" -}}
{{- if eq . "allinone" }}allInOne{{ else }}{{ . }}{{ end -}}
{{- end -}}

{{- define "parley.binary" -}}
{{- if eq . "allinone" }}parley{{ else }}parley-{{ . }}{{ end -}}
{{- end -}}

{{/* Pods (StatefulSet replicas) of a component: feed and notify have one pod per shard. */}}
{{- define "parley.replicas" -}}
{{- if eq .component "feed" }}{{ .root.Values.feed.shards }}
{{- else if eq .component "notify" }}{{ .root.Values.notify.shards }}
{{- else }}1{{ end -}}
{{- end -}}

{{- define "parley.isSharded" -}}
{{- if has . (list "feed" "notify") }}true{{ end -}}
{{- end -}}

{{/* "<ns>.svc" or "<ns>.svc.<clusterDomain>". */}}
{{- define "parley.dnsSuffix" -}}
{{- if .Values.clusterDomain -}}
{{- printf "%s.svc.%s" .Release.Namespace .Values.clusterDomain -}}
{{- else -}}
{{- printf "%s.svc" .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* host:port of a component's ClusterIP Service. */}}
{{- define "parley.serviceAddr" -}}
{{- printf "%s.%s:%v" (include "parley.componentName" .) (include "parley.dnsSuffix" .root) .root.Values.ports.grpc -}}
{{- end -}}

{{/* --shard_addrs: every shard's stable DNS name through the headless Service, in ordinal order. */}}
{{- define "parley.shardAddrs" -}}
{{- $name := include "parley.componentName" . -}}
{{- $suffix := include "parley.dnsSuffix" .root -}}
{{- $addrs := list -}}
{{- range $i := until (include "parley.replicas" . | int) -}}
{{- $addrs = append $addrs (printf "%s-%d.%s-headless.%s:%v" $name $i $name $suffix $.root.Values.ports.grpc) -}}
{{- end -}}
{{- join "," $addrs -}}
{{- end -}}

{{- define "parley.redisAddr" -}}
{{- if include "parley.redisInChart" . -}}
{{- printf "%s-redis.%s:6379" (include "parley.fullname" .) (include "parley.dnsSuffix" .) -}}
{{- else if .Values.redis.address -}}
{{- .Values.redis.address -}}
{{- else -}}
{{- fail "redis.address is required when redis.enabled is false (notify needs --redis_addr)" -}}
{{- end -}}
{{- end -}}

{{- define "parley.serviceKeySecretName" -}}
{{- default (printf "%s-service-key" (include "parley.fullname" .)) .Values.serviceKey.existingSecret -}}
{{- end -}}

{{- define "parley.instanceKeySecretName" -}}
{{- default (printf "%s-instance-key" (include "parley.fullname" .)) .Values.federation.instanceKey.existingSecret -}}
{{- end -}}

{{/* Where the secrets are mounted; the file names are fixed, the Secret keys are not. */}}
{{- define "parley.serviceKeyDir" -}}/etc/parley/service-key{{- end -}}
{{- define "parley.serviceKeyFile" -}}/etc/parley/service-key/service.key{{- end -}}
{{- define "parley.instanceKeyDir" -}}/etc/parley/instance-key{{- end -}}
{{- define "parley.instanceKeyFile" -}}/etc/parley/instance-key/instance.key{{- end -}}
{{- define "parley.dataMountPath" -}}/var/lib/parley{{- end -}}

{{/*
The flags of one component as PARLEY_* environment variables (a YAML map of strings).
--node_id and --shard_index differ per pod and are passed by the container's wrapper instead.
Only flags the binaries define may appear here (tools/helm-check enforces it).
*/}}
{{- define "parley.env" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $v := index $root.Values (include "parley.valuesKey" $c) -}}
{{- $addr := dict -}}
{{- range $other := include "parley.services" $root | fromJsonArray -}}
{{- $_ := set $addr $other (include "parley.serviceAddr" (dict "root" $root "component" $other)) -}}
{{- end -}}
PARLEY_GRPC_ADDR: {{ printf "%s:%v" $root.Values.config.bindHost $root.Values.ports.grpc | quote }}
PARLEY_METRICS_ADDR: {{ printf "%s:%v" $root.Values.config.bindHost $root.Values.ports.metrics | quote }}
PARLEY_DATA_DIR: {{ $root.Values.config.dataDir | quote }}
PARLEY_LOG_LEVEL: {{ default $root.Values.config.logLevel $v.logLevel | quote }}
PARLEY_DRAIN_TIMEOUT_S: {{ $root.Values.config.drainTimeoutSeconds | int64 | quote }}
PARLEY_MAX_MESSAGE_BYTES: {{ $root.Values.config.maxMessageBytes | int64 | quote }}
PARLEY_SERVICE_KEY_FILE: {{ include "parley.serviceKeyFile" $root | quote }}
PARLEY_SYNC_WRITES: {{ $root.Values.config.syncWrites | quote }}
{{- if not (has $c (list "identity" "allinone")) }}
PARLEY_IDENTITY_ADDR: {{ default $addr.identity $root.Values.config.identityAddr | quote }}
{{- end }}
{{- if include "parley.isSharded" $c }}
PARLEY_SHARD_COUNT: {{ include "parley.replicas" . | quote }}
PARLEY_SHARD_ADDRS: {{ include "parley.shardAddrs" . | quote }}
{{- end }}
{{- if has $c (list "feed" "allinone") }}
PARLEY_FANOUT_PUSH_THRESHOLD: {{ $root.Values.feed.fanoutPushThreshold | int64 | quote }}
PARLEY_HOME_TIMELINE_HEAD: {{ $root.Values.feed.homeTimelineHead | int64 | quote }}
{{- end }}
{{- if has $c (list "search" "allinone") }}
PARLEY_SEARCH_COMMIT_DELAY_MS: {{ $root.Values.search.commitDelayMs | int64 | quote }}
{{- end }}
{{- /* Addresses of other services (event subscribers, snapshot sources): an explicit
      <service>.<peer>Addr, else this release's peer when that service is enabled, else the flag is
      omitted (no address of a Service that is not rendered). A sharded peer (feed, notify) is named
      by every shard's pod address through its headless Service, comma-separated, not by the
      load-balanced Service: every notification shard applies every event (keeping its own
      people's), and search reads every feed shard's snapshot. */}}
{{- $peers := dict "identity" (list "search") "feed" (list "search" "notify" "federation") "search" (list "feed") }}
{{- range $peer := index $peers $c | default (list) }}
{{- $explicit := index $v (printf "%sAddr" $peer) }}
{{- $peerCtx := dict "root" $root "component" $peer }}
{{- if or $explicit (include "parley.serviceEnabled" $peerCtx) }}
{{- $default := index $addr $peer }}
{{- if include "parley.isSharded" $peer }}{{ $default = include "parley.shardAddrs" $peerCtx }}{{ end }}
PARLEY_{{ upper $peer }}_ADDR: {{ default $default $explicit | quote }}
{{- end }}
{{- end }}
{{- if has $c (list "notify" "allinone") }}
PARLEY_REDIS_ADDR: {{ include "parley.redisAddr" $root | quote }}
{{- end }}
{{- if has $c (list "federation" "allinone") }}
PARLEY_INSTANCE_DOMAIN: {{ $root.Values.federation.instanceDomain | quote }}
PARLEY_INSTANCE_KEY_FILE: {{ include "parley.instanceKeyFile" $root | quote }}
{{- end }}
{{- end -}}

{{/*
Checks across values that the JSON schema cannot express. Included once, by the StatefulSets.
*/}}
{{- define "parley.validate" -}}
{{- $root := . -}}
{{- $components := include "parley.components" $root | fromYamlArray -}}
{{- if not $components -}}
{{- fail "no service is enabled: set <service>.enabled (identity, feed, search, notify, federation) or allInOne.enabled" -}}
{{- end -}}
{{- /* Every service but identity needs --identity_addr; never point it at a Service that is not rendered. */ -}}
{{- if and (not .Values.allInOne.enabled) (not .Values.identity.enabled) (not .Values.config.identityAddr) -}}
{{- fail (printf "identity.enabled is false: set config.identityAddr (an identity service outside this release) for %s, which need --identity_addr" (join ", " $components)) -}}
{{- end -}}
{{- $stop := add .Values.config.drainTimeoutSeconds .Values.preStopSleepSeconds -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $stop) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + config.drainTimeoutSeconds (%v), or pods are killed mid-drain" .Values.terminationGracePeriodSeconds $stop) -}}
{{- end -}}
{{- /* node ids: [offset, offset + pods) per deployed component, within 0..1023 and disjoint */ -}}
{{- $ranges := list -}}
{{- range $c := $components -}}
{{- $lo := int (index $root.Values (include "parley.valuesKey" $c)).nodeIdOffset -}}
{{- $hi := add $lo (include "parley.replicas" (dict "root" $root "component" $c) | int) | int -}}
{{- if gt $hi 1024 -}}
{{- fail (printf "%s: node ids %d..%d pass 1023; lower %s.nodeIdOffset" $c $lo (sub $hi 1) (include "parley.valuesKey" $c)) -}}
{{- end -}}
{{- range $r := $ranges -}}
{{- if and (lt $lo (index $r 2)) (lt (index $r 1) $hi) -}}
{{- fail (printf "node id ranges overlap: %s uses %d..%d, %s uses %d..%d; change a nodeIdOffset" $c $lo (sub $hi 1) (index $r 0) (index $r 1) (sub (index $r 2) 1)) -}}
{{- end -}}
{{- end -}}
{{- $ranges = append $ranges (list $c $lo $hi) -}}
{{- end -}}
{{- if and (not .Values.serviceKey.existingSecret) (not .Values.serviceKey.generate) -}}
{{- fail "serviceKey: set existingSecret or generate: true" -}}
{{- end -}}
{{- if and (not .Values.federation.instanceKey.existingSecret) (not .Values.federation.instanceKey.generate) -}}
{{- fail "federation.instanceKey: set existingSecret or generate: true" -}}
{{- end -}}
{{- end -}}

{{/*
A hex Ed25519 seed for a chart-managed Secret: the value already in the cluster when there is one
(so upgrades keep it), else 32 random bytes as 64 hex chars (sha256 of 64 crypto-random
alphanumerics). Argument: (dict "root" $ "name" <secret> "key" <key>). Returns base64.
*/}}
{{- define "parley.stableHexSeed" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum 64 | sha256sum | b64enc -}}
{{- end -}}
{{- end -}}
