{{- define "ccp.labels" -}}
app.kubernetes.io/name: ccp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ccp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{- define "ccp.etcdEndpoint" -}}
{{- if .Values.etcd.enabled -}}
{{ .Release.Name }}-etcd:2379
{{- else -}}
{{ .Values.etcd.endpoints }}
{{- end -}}
{{- end }}

{{/* OpenTelemetry's standard variables: service name, sampling, and OTLP when an endpoint is set. */}}
{{- define "ccp.otelEnv" -}}
- {name: OTEL_SERVICE_NAME, value: {{ .service | quote }}}
- {name: OTEL_TRACES_SAMPLER, value: parentbased_traceidratio}
- {name: OTEL_TRACES_SAMPLER_ARG, value: {{ .root.Values.observability.tracesSampleRatio | quote }}}
{{- with .root.Values.observability.otlpEndpoint }}
- {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: {{ . | quote }}}
{{- end }}
{{- end }}

{{/* TLS: Secret names (an existing Secret when given, else the one the chart generates, templates/tls.yaml). */}}
{{- define "ccp.acdTlsSecret" -}}
{{ .Values.tls.existingSecret | default (printf "%s-acd-tls" .Release.Name) }}
{{- end }}

{{- define "ccp.etcdServerTlsSecret" -}}
{{ .Values.etcd.tls.existingSecret | default (printf "%s-etcd-server-tls" .Release.Name) }}
{{- end }}

{{- define "ccp.etcdClientTlsSecret" -}}
{{ .Values.etcd.tls.existingClientSecret | default (printf "%s-etcd-client-tls" .Release.Name) }}
{{- end }}

{{/* etcd as the operator's per-tenant nodes reach it from any namespace. */}}
{{- define "ccp.etcdEndpointFqdn" -}}
{{- if .Values.etcd.enabled -}}
{{ .Release.Name }}-etcd.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}:2379
{{- else -}}
{{ .Values.etcd.endpoints }}
{{- end -}}
{{- end }}

{{/* The names of the ACD nodes' certificate: every site's Service (short, namespaced, FQDN), a wildcard for
their headless Services' pods, a wildcard for Services of the release namespace (the operator's per-tenant
Services), localhost (the readiness probe) and tls.extraDnsNames. A YAML list. */}}
{{- define "ccp.acdDnsNames" -}}
{{- $ns := .Release.Namespace }}
{{- $domain := .Values.clusterDomain }}
{{- range $site := .Values.sites }}
{{- $svc := printf "%s-acd-%s" $.Release.Name $site }}
- {{ $svc }}
- {{ $svc }}.{{ $ns }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.{{ $domain }}
- "*.{{ $svc }}-headless.{{ $ns }}.svc"
- "*.{{ $svc }}-headless.{{ $ns }}.svc.{{ $domain }}"
{{- end }}
- "*.{{ $ns }}.svc"
- "*.{{ $ns }}.svc.{{ $domain }}"
- localhost
{{- range .Values.tls.extraDnsNames }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* The names of the bundled etcd's member certificate (client and peer URLs). A YAML list. */}}
{{- define "ccp.etcdDnsNames" -}}
{{- $ns := .Release.Namespace }}
{{- $name := printf "%s-etcd" .Release.Name }}
- {{ $name }}
- {{ $name }}.{{ $ns }}
- {{ $name }}.{{ $ns }}.svc
- {{ $name }}.{{ $ns }}.svc.{{ .Values.clusterDomain }}
- "*.{{ $name }}-peers"
- "*.{{ $name }}-peers.{{ $ns }}"
- "*.{{ $name }}-peers.{{ $ns }}.svc"
- "*.{{ $name }}-peers.{{ $ns }}.svc.{{ .Values.clusterDomain }}"
- localhost
{{- end }}

{{/* The ACD containers' TLS variables (names fixed by ccp_acd.settings): the node's certificate and the
node-to-node port (mTLS: the handshake demands a certificate from the CA), or explicit plaintext; the etcd
client certificate when etcd speaks TLS, else explicit plaintext etcd. */}}
{{- define "ccp.acdTlsEnv" -}}
{{- if .Values.tls.enabled }}
- {name: CCP_TLS_CERT_FILE, value: /etc/ccp/tls/tls.crt}
- {name: CCP_TLS_KEY_FILE, value: /etc/ccp/tls/tls.key}
- {name: CCP_TLS_CA_FILE, value: /etc/ccp/tls/ca.crt}
- {name: CCP_PEER_LISTEN, value: "0.0.0.0:50052"}
{{- else }}
- {name: CCP_PLAINTEXT, value: "true"}
{{- end }}
{{- include "ccp.etcdTlsEnv" . }}
{{- end }}

{{/* etcd client transport of nodes and operator: the client certificate, or explicit plaintext (both refuse to
start with neither; ccp_acd.tls.etcd_security). The operator passes its own choice on to its tenants' nodes. */}}
{{- define "ccp.etcdTlsEnv" -}}
{{- if .Values.etcd.tls.enabled }}
- {name: CCP_ETCD_CA_FILE, value: /etc/ccp/etcd-tls/ca.crt}
- {name: CCP_ETCD_CERT_FILE, value: /etc/ccp/etcd-tls/tls.crt}
- {name: CCP_ETCD_KEY_FILE, value: /etc/ccp/etcd-tls/tls.key}
{{- else }}
- {name: CCP_ETCD_PLAINTEXT, value: "true"}
{{- end }}
{{- end }}

{{- define "ccp.acdTlsMounts" -}}
{{- if .Values.tls.enabled }}
- {name: tls, mountPath: /etc/ccp/tls, readOnly: true}
{{- end }}
{{- include "ccp.etcdTlsMounts" . }}
{{- end }}

{{- define "ccp.etcdTlsMounts" -}}
{{- if .Values.etcd.tls.enabled }}
- {name: etcd-tls, mountPath: /etc/ccp/etcd-tls, readOnly: true}
{{- end }}
{{- end }}

{{- define "ccp.acdTlsVolumes" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret: {secretName: {{ include "ccp.acdTlsSecret" . }}}
{{- end }}
{{- include "ccp.etcdTlsVolumes" . }}
{{- end }}

{{- define "ccp.etcdTlsVolumes" -}}
{{- if .Values.etcd.tls.enabled }}
- name: etcd-tls
  secret: {secretName: {{ include "ccp.etcdClientTlsSecret" . }}}
{{- end }}
{{- end }}

{{/* The ACD container's probes. With TLS, Kubernetes' native grpc probe cannot be used: it speaks plaintext
only (no TLS, no CA). Readiness is then an exec probe asking grpc.health.v1 over TLS, verifying the node with
the CA and presenting the node's certificate (so it also passes a port that demands client certificates);
liveness is a tcpSocket probe (cheap: it runs every 5 s, and a process that accepts connections is alive; a
node that is up but NOT_SERVING is taken out of the Services by readiness, not restarted). The script is
ccp_operator.children.TLS_PROBE_SCRIPT, byte for byte (a test compares them). */}}
{{- define "ccp.acdProbes" -}}
{{- if .Values.tls.enabled }}
readinessProbe:
  exec:
    command:
      - python
      - -c
      - |
        import os, grpc
        from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g
        def read(name): return open(os.environ[name], "rb").read()
        creds = grpc.ssl_channel_credentials(read("CCP_TLS_CA_FILE"), read("CCP_TLS_KEY_FILE"), read("CCP_TLS_CERT_FILE"))
        port = os.environ["CCP_GRPC_LISTEN"].rpartition(":")[2]
        with grpc.secure_channel("localhost:" + port, creds) as channel:
            reply = g.HealthStub(channel).Check(h.HealthCheckRequest(service="ccpapi.v1.AgentService"), timeout=4)
        raise SystemExit(0 if reply.status == h.HealthCheckResponse.SERVING else 1)
  periodSeconds: 10
  timeoutSeconds: 5
livenessProbe:
  tcpSocket: {port: grpc}
  periodSeconds: 5
  failureThreshold: 6
{{- else }}
readinessProbe:
  grpc: {port: 50051, service: ccpapi.v1.AgentService}
  periodSeconds: 5
livenessProbe:
  grpc: {port: 50051, service: ccpapi.v1.AgentService}
  periodSeconds: 5
  failureThreshold: 6
{{- end }}
{{- end }}
