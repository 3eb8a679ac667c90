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
