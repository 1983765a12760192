{{/*
Names and labels shared by every template, the conventional Helm helpers.
*/}}

{{- define "supervisely-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: the release name, with the chart name appended unless already part of it.
*/}}
{{- define "supervisely-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "supervisely-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "supervisely-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "supervisely-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "supervisely-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: supervisely-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "supervisely-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "supervisely-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "supervisely-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
A number as an environment variable's text. Helm holds numbers as float64, which print as 1e+06
from a million up; whole numbers are printed as integers so the operator's int settings parse.
*/}}
{{- define "supervisely-operator.number" -}}
{{- if eq (float64 .) (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{- define "supervisely-operator.peeringName" -}}
{{- default (include "supervisely-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/*
The Secret the pod reads SERVER_ADDRESS and API_TOKEN from: the existing one named in values, else
the chart's own name (made by the chart when apiToken is set, else optional, see values.yaml).
*/}}
{{- define "supervisely-operator.credentialsSecretName" -}}
{{- default (printf "%s-credentials" (include "supervisely-operator.fullname" .)) .Values.credentials.existingSecret }}
{{- end }}

{{/*
RBAC rules: exactly controller/permissions.py required_rules(clusterwide, peering). The unit test
tests/unit/test_chart_rbac.py compares the rendered rules with that function for all four
combinations, so change both together. Arguments: a dict with "clusterwide" and "peering".
*/}}
{{- define "supervisely-operator.rules" -}}
# The operator's own calls (controller/kube.py RBAC_VERBS) and kopf's watch and patch of the
# resource: read and delete (ttlSecondsAfterFinished, a cron task's history), create (a cron
# task's runs), watch, finalizer and annotation patches.
- apiGroups: ["supervisely.com"]
  resources: ["superviselytasks"]
  verbs: ["create", "delete", "get", "list", "patch", "watch"]
# Status writes, always through the status subresource.
- apiGroups: ["supervisely.com"]
  resources: ["superviselytasks/status"]
  verbs: ["patch"]
# SuperviselyCronTask: watched by kopf, its status written.
- apiGroups: ["supervisely.com"]
  resources: ["superviselycrontasks"]
  verbs: ["list", "patch", "watch"]
- apiGroups: ["supervisely.com"]
  resources: ["superviselycrontasks/status"]
  verbs: ["patch"]
# A run's ownerReference blocks its cron task's deletion until the run is gone, which the API
# server allows only to whom may set the cron task's finalizers.
- apiGroups: ["supervisely.com"]
  resources: ["superviselycrontasks/finalizers"]
  verbs: ["update"]
# Per-resource credentials (spec.credentialsSecretRef), read from the resource's namespace.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# kopf posts an Event for every transition.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if .clusterwide }}
# Cluster-wide kopf follows CRDs to notice the resource appear or go.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}
{{- if .peering }}
# kopf's keep-alives in the peering object.
- apiGroups: ["kopf.dev"]
  resources: [{{ ternary "clusterkopfpeerings" "kopfpeerings" .clusterwide | quote }}]
  verbs: ["get", "list", "patch", "watch"]
{{- end }}
{{- end }}

{{/*
Refuse values that would make a broken operator, with a message that says what to change.
*/}}
{{- define "supervisely-operator.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.peering.enabled) }}
{{- fail (printf "replicas: %d needs peering.enabled: true; standalone replicas would each act on every SuperviselyTask" (int .Values.replicas)) }}
{{- end }}
{{- $peering := .Values.peering }}
{{- if not (and (lt (float64 $peering.retryPeriod) (float64 $peering.renewDeadline)) (lt (float64 $peering.renewDeadline) (float64 $peering.lifetime))) }}
{{- fail (printf "peering: retryPeriod (%v) < renewDeadline (%v) < lifetime (%v) must hold; the acting replica must stop before a standby may take over" $peering.retryPeriod $peering.renewDeadline $peering.lifetime) }}
{{- end }}
{{- end }}
