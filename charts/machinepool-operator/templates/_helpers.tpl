{{/* The release's full name: the release name, suffixed with the chart name unless it already contains it. */}}
{{- define "machinepool-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "machinepool-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "machinepool-operator.labels" -}}
{{ include "machinepool-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "machinepool-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "machinepool-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "machinepool-operator.webhookServiceName" -}}
{{- printf "%s-webhook" (include "machinepool-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "machinepool-operator.webhookCertSecretName" -}}
{{- printf "%s-webhook-cert" (include "machinepool-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The manager's --controllers value; empty means the manager's default. */}}
{{- define "machinepool-operator.controllers" -}}
{{- if .Values.crds.machinePool }}
{{- join "," .Values.controllers }}
{{- else }}
{{- if has "machinepool" .Values.controllers }}
{{- fail "controllers names machinepool but crds.machinePool is false: Cluster API core reconciles MachinePools there; drop machinepool from controllers" }}
{{- end }}
{{- "simmachinepool" }}
{{- end }}
{{- end }}

{{/*
The clientConfig of one webhook: the in-cluster Service or webhook.url, plus the CA bundle when the chart made
the certificate. Takes a dict with "root", "caBundle" and "path".
*/}}
{{- define "machinepool-operator.webhookClientConfig" -}}
{{- $v := .root.Values.webhook }}
{{- if $v.url }}
url: {{ printf "%s%s" (trimSuffix "/" $v.url) .path | quote }}
{{- else }}
service:
  name: {{ include "machinepool-operator.webhookServiceName" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path }}
  port: 443
{{- end }}
{{- if .caBundle }}
caBundle: {{ .caBundle }}
{{- end }}
{{- end }}

{{/*
The webhook serving certificate the chart makes (without cert-manager), as YAML with base64 "caBundle", "crt" and
"key". Made once per render and kept in .Values._webhookCert, so that the Secret, the webhook configurations and
the MachinePool CRD's conversion agree; reused from the Secret on upgrade (lookup). helm template (no cluster)
always makes a new one.
*/}}
{{- define "machinepool-operator.webhookCert" -}}
{{- if not (hasKey .Values "_webhookCert") }}
{{- $fullname := include "machinepool-operator.fullname" . }}
{{- $service := include "machinepool-operator.webhookServiceName" . }}
{{- $secretName := include "machinepool-operator.webhookCertSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName }}
{{- if and $existing $existing.data (hasKey $existing.data "ca.crt") (hasKey $existing.data "tls.crt") (hasKey $existing.data "tls.key") }}
{{- $_ := set .Values "_webhookCert" (dict "caBundle" (index $existing.data "ca.crt") "crt" (index $existing.data "tls.crt") "key" (index $existing.data "tls.key")) }}
{{- else }}
{{- $days := int .Values.webhook.generatedCert.validityDays }}
{{- $ca := genCA (printf "%s-webhook-ca" $fullname) $days }}
{{- $ips := list }}
{{- $names := list (printf "%s.%s.svc" $service .Release.Namespace) (printf "%s.%s.svc.cluster.local" $service .Release.Namespace) }}
{{- if .Values.webhook.url }}
{{- $host := (split ":" (urlParse .Values.webhook.url).host)._0 }}
{{- if regexMatch "^[0-9.]+$" $host }}
{{- $ips = list $host }}
{{- else }}
{{- $names = list $host }}
{{- end }}
{{- end }}
{{- $signed := genSignedCert (printf "%s.%s.svc" $service .Release.Namespace) $ips $names $days $ca }}
{{- $_ := set .Values "_webhookCert" (dict "caBundle" ($ca.Cert | b64enc) "crt" ($signed.Cert | b64enc) "key" ($signed.Key | b64enc)) }}
{{- end }}
{{- end }}
{{- toYaml (get .Values "_webhookCert") }}
{{- end }}

{{/*
The MachinePool CRD's conversion: v1beta1 requests are converted by the manager's webhook (/convert), reached
like the admission webhooks. Without the webhook server nothing could convert, so the chart refuses that.
*/}}
{{- define "machinepool-operator.machinePoolConversion" -}}
{{- if not .Values.webhook.enabled }}
{{- fail "webhook.enabled=false with crds.machinePool=true: the MachinePool CRD serves v1beta1 and v1beta2 and converts between them through the manager's webhook server; keep webhook.enabled, or set crds.machinePool=false where Cluster API core owns MachinePools" }}
{{- end }}
{{- $caBundle := "" }}
{{- if not .Values.webhook.certManager.enabled }}
{{- $caBundle = (include "machinepool-operator.webhookCert" . | fromYaml).caBundle }}
{{- end }}
strategy: Webhook
webhook:
  conversionReviewVersions:
  - v1
  clientConfig:
    {{- include "machinepool-operator.webhookClientConfig" (dict "root" . "caBundle" $caBundle "path" "/convert") | trim | nindent 4 }}
{{- end }}

{{/*
The manager's GOMEMLIMIT: goMemLimit as given, or for "auto" 90% of resources.limits.memory, in MiB (nothing
without a memory limit). The Go runtime counts only its own memory against GOMEMLIMIT; the 10% is room for the
rest of the container's (binary, thread stacks outside the heap, what the runtime has not yet returned). The
downward API (resourceFieldRef limits.memory) cannot leave that room: it gives the whole limit as a bare number.
*/}}
{{- define "machinepool-operator.goMemLimit" -}}
{{- $v := toString (.Values.goMemLimit | default "") }}
{{- if ne $v "auto" }}
{{- $v }}
{{- else }}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) }}
{{- if kindIs "string" $limit }}
{{- if $limit }}
{{- $units := dict "" 1.0 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 }}
{{- $unit := regexReplaceAll "^[0-9.]+" $limit "" }}
{{- if or (not (regexMatch "^[0-9]+(\\.[0-9]+)?[a-zA-Z]*$" $limit)) (not (hasKey $units $unit)) }}
{{- fail (printf "goMemLimit auto cannot read resources.limits.memory %q: set goMemLimit (e.g. 400MiB) or write the limit in Ki, Mi, Gi, k, M or G" $limit) }}
{{- end }}
{{- printf "%dMiB" (divf (mulf (float64 (trimSuffix $unit $limit)) (get $units $unit) 0.9) 1048576 | floor | int64) }}
{{- end }}
{{- else if $limit }}
{{- printf "%dMiB" (divf (mulf (float64 $limit) 0.9) 1048576 | floor | int64) }}
{{- end }}
{{- end }}
{{- end }}
