{{/* Names, labels and the pieces every pod of the chart shares. */}}

{{- define "gim-faust.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-gim-faust, or the release name if it already holds the chart name. Kept to 40
characters: the longest suffix added to it is "-maintenance" plus a CronJob's job suffix. */}}
{{- define "gim-faust.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "gim-faust.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gim-faust.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gim-faust.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gim-faust.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gim-faust.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
gim-faust.io/tenant: {{ .Values.tenant | quote }}
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "gsp"). */}}
{{- define "gim-faust.componentLabels" -}}
{{ include "gim-faust.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gim-faust.componentSelector" -}}
{{ include "gim-faust.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gim-faust.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gim-faust.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gim-faust.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The contract's metrics port of each service (operations.md). */}}
{{- define "gim-faust.port" -}}
{{- get (dict "gca" 9250 "gsp" 9249 "gim" 8249) . -}}
{{- end -}}

{{/* Mount points of the CA certificates. */}}
{{- define "gim-faust.kafkaCaFile" -}}
/etc/gim-faust/kafka-ca/{{ .Values.kafka.tls.caKey }}
{{- end -}}
{{- define "gim-faust.postgresCaFile" -}}
/etc/gim-faust/postgres-ca/{{ .Values.database.tls.caKey }}
{{- end -}}

{{/* Pod-level settings shared by every pod: (dict "root" $ "component" "gca"). */}}
{{- define "gim-faust.podMeta" -}}
labels:
  {{- include "gim-faust.componentLabels" . | nindent 2 }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
  {{- with .root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "gim-faust.podSpec" -}}
serviceAccountName: {{ include "gim-faust.serviceAccountName" .root }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The container's first lines: name, image, command, security context, settings.
(dict "root" $ "component" "gca" "args" (list "gca" "run") "config" true "infomart" true) */}}
{{- define "gim-faust.container" -}}
- name: {{ .component }}
  image: {{ include "gim-faust.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: {{ toJson .args }}
  securityContext:
    {{- toYaml .root.Values.containerSecurityContext | nindent 4 }}
  envFrom:
    - configMapRef:
        name: {{ include "gim-faust.fullname" .root }}
  env:
    {{- include "gim-faust.secretEnv" . | trim | nindent 4 }}
    {{- with .env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* Settings that carry secrets: only ever references to existing Secrets. */}}
{{- define "gim-faust.secretEnv" -}}
{{- $v := .root.Values -}}
{{- if .infomart }}
- name: GIM_INFOMART_DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ default $v.database.infomartSecret .infomartSecret }}
      key: {{ default $v.database.infomartKey .infomartKey }}
{{- end }}
{{- if .config }}
- name: GIM_CONFIG_DB_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.configSecret }}
      key: {{ $v.database.configKey }}
{{- end }}
{{- if $v.kafka.sasl.mechanism }}
- name: GIM_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.usernameKey }}
- name: GIM_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.passwordKey }}
{{- end }}
{{- if $v.objectStore.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $v.objectStore.existingSecret }}
      key: {{ $v.objectStore.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $v.objectStore.existingSecret }}
      key: {{ $v.objectStore.secretAccessKeyKey }}
{{- end }}
{{- end -}}

{{/* Mounts of every container: /tmp, and the CAs when configured. */}}
{{- define "gim-faust.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/gim-faust/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.database.tls.caSecret }}
- name: postgres-ca
  mountPath: /etc/gim-faust/postgres-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* Their volumes: (dict "root" $ "tmpSize" "256Mi"). */}}
{{- define "gim-faust.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .tmpSize }}
{{- if .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .root.Values.kafka.tls.caSecret }}
    items:
      - key: {{ .root.Values.kafka.tls.caKey }}
        path: {{ .root.Values.kafka.tls.caKey }}
{{- end }}
{{- if .root.Values.database.tls.caSecret }}
- name: postgres-ca
  secret:
    secretName: {{ .root.Values.database.tls.caSecret }}
    items:
      - key: {{ .root.Values.database.tls.caKey }}
        path: {{ .root.Values.database.tls.caKey }}
{{- end }}
{{- end -}}

{{/* The metrics port and the probes of a long-running service: the component name. */}}
{{- define "gim-faust.serviceProbes" -}}
{{- $port := include "gim-faust.port" .component | int -}}
{{- $p := .root.Values.probes -}}
ports:
  - name: metrics
    containerPort: {{ $port }}
    protocol: TCP
startupProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 5
  failureThreshold: {{ div $p.startupSeconds 5 | max 1 }}
livenessProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: {{ $p.periodSeconds }}
  timeoutSeconds: 5
  failureThreshold: {{ $p.livenessFailureThreshold }}
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: {{ $p.periodSeconds }}
  timeoutSeconds: 5
  failureThreshold: {{ $p.readinessFailureThreshold }}
{{- end -}}

{{/* A CronJob running one `gim-faust gim ...` command:
(dict "root" $ "component" "export" "schedule" "..." "args" (list ...) "resources" {...}
      "tmpSize" "10Gi" "infomartSecret" "" "infomartKey" "") */}}
{{- define "gim-faust.cronJob" -}}
{{- $j := .root.Values.jobs -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "gim-faust.fullname" .root }}-{{ .component }}
  labels:
    {{- include "gim-faust.componentLabels" . | nindent 4 }}
spec:
  schedule: {{ .schedule | quote }}
  {{- with $j.timeZone }}
  timeZone: {{ . | quote }}
  {{- end }}
  # The job lock makes a second run fail at once anyway; Forbid does not even start it.
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {{ $j.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ $j.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $j.failedJobsHistoryLimit }}
  jobTemplate:
    metadata:
      labels:
        {{- include "gim-faust.componentLabels" . | nindent 8 }}
    spec:
      backoffLimit: {{ $j.backoffLimit }}
      activeDeadlineSeconds: {{ $j.activeDeadlineSeconds }}
      template:
        metadata:
          {{- include "gim-faust.podMeta" . | nindent 10 }}
        spec:
          {{- include "gim-faust.podSpec" . | nindent 10 }}
          {{- with .root.Values.affinity }}
          affinity:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          restartPolicy: Never
          containers:
            {{- include "gim-faust.container" (merge (dict "infomart" true) .) | nindent 12 }}
              resources:
                {{- toYaml .resources | nindent 16 }}
              volumeMounts:
                {{- include "gim-faust.volumeMounts" .root | nindent 16 }}
          volumes:
            {{- include "gim-faust.volumes" . | nindent 12 }}
{{- end -}}

{{/* Prometheus label matchers of one service's series: the component name. The monitors
set job to <fullname>-<component> (templates/monitor.yaml). */}}
{{- define "gim-faust.matchers" -}}
namespace="{{ .root.Release.Namespace }}",job="{{ include "gim-faust.fullname" .root }}-{{ .component }}"
{{- end -}}
