{{/* Names and labels, as `helm create` makes them. */}}
{{- define "drs-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "drs-exporter.fullname" -}}
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

{{- define "drs-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drs-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "drs-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "drs-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: drs-exporter
{{- end }}

{{/* Where the pod mounts what it reads; the config's *_file keys name these paths. */}}
{{- define "drs-exporter.configFile" -}}/etc/drs-exporter/config.yaml{{- end }}
{{- define "drs-exporter.credentialsDir" -}}/etc/drs-exporter/credentials{{- end }}
{{- define "drs-exporter.webConfigDir" -}}/etc/drs-exporter/web{{- end }}
{{- define "drs-exporter.webConfigFile" -}}/etc/drs-exporter/web/web-config.yml{{- end }}

{{/* The config file: `config`, with web.config_file naming the mounted web-config. */}}
{{- define "drs-exporter.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if .Values.webConfig.existingSecret }}
{{- $web := deepCopy (default dict $config.web) }}
{{- $_ := set $web "config_file" (include "drs-exporter.webConfigFile" .) }}
{{- $_ := set $config "web" $web }}
{{- end }}
{{- if and (not .Values.existingSecret) (contains (include "drs-exporter.credentialsDir" .) (toYaml $config)) }}
{{- fail (printf "config reads files under %s, but existingSecret is empty: name the Secret to mount there, or give the credentials another way" (include "drs-exporter.credentialsDir" .)) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{- define "drs-exporter.scheme" -}}
{{- if .Values.webConfig.tls }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{- define "drs-exporter.metricsPath" -}}
{{- (.Values.config.web | default dict).telemetry_path | default "/metrics" }}
{{- end }}

{{/* A probe's httpGet on the exporter's port. */}}
{{- define "drs-exporter.httpGet" -}}
path: {{ .path }}
port: http-metrics
{{- if .root.Values.webConfig.tls }}
scheme: HTTPS
{{- end }}
{{- with .root.Values.webConfig.probeHeaders }}
httpHeaders:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The pod, for the Deployment and the StatefulSet alike: the pod of deploy/kubernetes, which
a test compares with this one.
*/}}
{{- define "drs-exporter.podTemplate" -}}
metadata:
  annotations:
    # The exporter reads its config at start: a new config rolls the pods.
    checksum/config: {{ include "drs-exporter.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "drs-exporter.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  # The exporter calls no Kubernetes API.
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
  {{- else if gt (int .Values.shards) 1 }}
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "drs-exporter.selectorLabels" . | nindent 10 }}
  {{- end }}
  containers:
    - name: drs-exporter
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config.file={{ include "drs-exporter.configFile" . }}
        - --log.format=json
        {{- if gt (int .Values.shards) 1 }}
        # Pod <fullname>-i polls shard i: the ordinal ends its host name.
        - --total-shards={{ .Values.shards }}
        - --shard=auto
        {{- end }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.extraEnv }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http-metrics
          containerPort: 9877
          protocol: TCP
      livenessProbe:
        httpGet:
          {{- include "drs-exporter.httpGet" (dict "root" . "path" "/-/healthy") | nindent 10 }}
        periodSeconds: 10
        timeoutSeconds: 5
        failureThreshold: 6
      # Ready once every target has finished its first poll, which may take a while with
      # many projects and a low poll.max_requests_per_second.
      readinessProbe:
        httpGet:
          {{- include "drs-exporter.httpGet" (dict "root" . "path" "/-/ready") | nindent 10 }}
        periodSeconds: 10
        timeoutSeconds: 5
        failureThreshold: 3
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.securityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: {{ include "drs-exporter.configFile" . }}
          subPath: config.yaml
          readOnly: true
        {{- if .Values.existingSecret }}
        - name: credentials
          mountPath: {{ include "drs-exporter.credentialsDir" . }}
          readOnly: true
        {{- end }}
        {{- if .Values.webConfig.existingSecret }}
        - name: web-config
          mountPath: {{ include "drs-exporter.webConfigDir" . }}
          readOnly: true
        {{- end }}
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "drs-exporter.fullname" . }}-config
    {{- if .Values.existingSecret }}
    - name: credentials
      secret:
        secretName: {{ .Values.existingSecret }}
        defaultMode: 0440
    {{- end }}
    {{- if .Values.webConfig.existingSecret }}
    - name: web-config
      secret:
        secretName: {{ .Values.webConfig.existingSecret }}
        defaultMode: 0440
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
