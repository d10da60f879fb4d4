/*
 * VitalTrail example device client (PROTOCOL.md §1-2, §6), C.
 *
 * Connects to the gateway's mutual-TLS MQTT listener with the device's KGC certificate
 * and key (libmosquitto), subscribes to its /rejects and /acks topics, publishes N signed
 * frames (ES256 COSE_Sign1, a seq/prev chain from seq 1; CBOR with libcbor's encoders,
 * ECDSA and SHA-256 with OpenSSL) at QoS 1, then one deliberately bad frame, and prints
 * every outcome as one JSON line on stdout (same lines as the Python example):
 *
 *   {"kind":"connected","dev":"..."}
 *   {"kind":"puback","topic":"vt/v1/dev/<dev>/frames","seq":n}
 *   {"kind":"ack","topic":"vt/v1/dev/<dev>/acks","seq":n}
 *   {"kind":"reject","topic":"vt/v1/dev/<dev>/rejects","seq":n|null,"code":"..."}
 *   {"kind":"done","ok":true|false,"error":null|"..."}
 *
 * Exit status 0 when every good frame was PUBACKed, none was rejected, and the bad frame
 * was rejected with the expected code.
 *
 * Build (Debian: libmosquitto-dev libcbor-dev libssl-dev):
 *   gcc -std=c11 -Wall -Wextra -O2 -o vt_device vt_device.c -lmosquitto -lcbor -lcrypto
 * Run:
 *   ./vt_device --host 127.0.0.1 --port 8883 --ca kgc-root.pem --cert device.cert.pem \
 *       --key device.key.pem --dev wr-0001 --frames 5 [--bad signature|malformed|none]
 *   ./vt_device --key TEST-ONLY-device-key.pem --dev wr-kit-0001 --dump-ts 1767225600000
 *       prints the parts of frame seq 1 to compare with the kit's frames.json (es256-first).
 */
#define _POSIX_C_SOURCE 200809L
#include <cbor.h>
#include <getopt.h>
#include <mosquitto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COSE_SIGN1_TAG 18
#define MAX_FRAME 2048
#define MAX_REJECTS 64

/* ------------------------------------------------------------ a CBOR writer over libcbor */

/* libcbor's streaming encoders write one head each, shortest form (RFC 8949 §4.2.1). */
struct buf {
  unsigned char b[MAX_FRAME];
  size_t n;
  bool overflow;
};

static void put_head(struct buf *w, size_t written) {
  if (written == 0) w->overflow = true;
  w->n += written;
}
static void put_uint(struct buf *w, uint64_t v) { put_head(w, cbor_encode_uint(v, w->b + w->n, sizeof w->b - w->n)); }
static void put_negint(struct buf *w, int64_t v) {
  put_head(w, cbor_encode_negint((uint64_t)(-1 - v), w->b + w->n, sizeof w->b - w->n));
}
static void put_raw(struct buf *w, const void *p, size_t len) {
  if (len > sizeof w->b - w->n) {
    w->overflow = true;
    return;
  }
  memcpy(w->b + w->n, p, len);
  w->n += len;
}
static void put_bytes(struct buf *w, const void *p, size_t len) {
  put_head(w, cbor_encode_bytestring_start(len, w->b + w->n, sizeof w->b - w->n));
  put_raw(w, p, len);
}
static void put_text(struct buf *w, const char *s) {
  put_head(w, cbor_encode_string_start(strlen(s), w->b + w->n, sizeof w->b - w->n));
  put_raw(w, s, strlen(s));
}
static void put_map(struct buf *w, size_t n) { put_head(w, cbor_encode_map_start(n, w->b + w->n, sizeof w->b - w->n)); }
static void put_array(struct buf *w, size_t n) {
  put_head(w, cbor_encode_array_start(n, w->b + w->n, sizeof w->b - w->n));
}
static void put_tag(struct buf *w, uint64_t t) { put_head(w, cbor_encode_tag(t, w->b + w->n, sizeof w->b - w->n)); }

/* ------------------------------------------------------------ frames (PROTOCOL.md §1) */

struct obs {
  unsigned hr, spo2, temp;
  bool has_temp;
};

/*
 * The frame body. Deterministic encoding sorts map keys by their encoded bytes: shorter
 * keys first, then bytewise. Body keys: "v" < "ts" < "dev" < "obs" < "seq" < "prev";
 * obs keys: "hr" < "spo2" < "temp".
 */
static void encode_body(struct buf *w, const char *dev, uint64_t seq, uint64_t ts, const unsigned char prev[32],
                        const struct obs *o) {
  put_map(w, 6);
  put_text(w, "v");
  put_uint(w, 1);
  put_text(w, "ts");
  put_uint(w, ts);
  put_text(w, "dev");
  put_text(w, dev);
  put_text(w, "obs");
  put_map(w, o->has_temp ? 3 : 2);
  put_text(w, "hr");
  put_uint(w, o->hr);
  put_text(w, "spo2");
  put_uint(w, o->spo2);
  if (o->has_temp) {
    put_text(w, "temp");
    put_uint(w, o->temp);
  }
  put_text(w, "seq");
  put_uint(w, seq);
  put_text(w, "prev");
  put_bytes(w, prev, 32);
}

/* {1: -7 (ES256), 4: kid} */
static void encode_protected(struct buf *w, const char *dev) {
  put_map(w, 2);
  put_uint(w, 1);
  put_negint(w, -7);
  put_uint(w, 4);
  put_bytes(w, dev, strlen(dev));
}

/* ECDSA P-256 / SHA-256 as COSE wants it: r || s, 32 bytes each (OpenSSL gives DER). */
static bool es256_sign(EVP_PKEY *key, const unsigned char *msg, size_t len, unsigned char out[64]) {
  unsigned char der[80];
  size_t der_len = sizeof der;
  bool ok = false;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
      EVP_DigestSign(ctx, der, &der_len, msg, len) == 1) {
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (sig) {
      const BIGNUM *r, *s;
      ECDSA_SIG_get0(sig, &r, &s);
      ok = BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32;
      ECDSA_SIG_free(sig);
    }
  }
  EVP_MD_CTX_free(ctx);
  return ok;
}

/* Signs one frame into `frame`: tag 18 [protected, {}, payload, signature]. */
static struct buf body, prot, tbs; /* the parts of the last frame signed (for --dump-ts) */

static bool sign_frame(EVP_PKEY *key, const char *dev, uint64_t seq, uint64_t ts, const unsigned char prev[32],
                       const struct obs *o, struct buf *frame) {
  memset(&body, 0, sizeof body);
  memset(&prot, 0, sizeof prot);
  memset(&tbs, 0, sizeof tbs);
  encode_body(&body, dev, seq, ts, prev, o);
  encode_protected(&prot, dev);
  /* Sig_structure = ["Signature1", protected, h'', payload] (RFC 9052 §4.4). */
  put_array(&tbs, 4);
  put_text(&tbs, "Signature1");
  put_bytes(&tbs, prot.b, prot.n);
  put_bytes(&tbs, "", 0);
  put_bytes(&tbs, body.b, body.n);
  unsigned char sig[64];
  if (body.overflow || prot.overflow || tbs.overflow || !es256_sign(key, tbs.b, tbs.n, sig)) return false;
  memset(frame, 0, sizeof *frame);
  put_tag(frame, COSE_SIGN1_TAG);
  put_array(frame, 4);
  put_bytes(frame, prot.b, prot.n);
  put_map(frame, 0);
  put_bytes(frame, body.b, body.n);
  put_bytes(frame, sig, sizeof sig);
  return !frame->overflow;
}

static void sha256(const unsigned char *p, size_t n, unsigned char out[32]) {
  unsigned int len = 32;
  EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ MQTT (PROTOCOL.md §2) */

#define SEQ_NULL (-1LL)

static struct {
  char frames[128], rejects[128], acks[128];
  int connack;     /* -1 until CONNACK */
  bool subscribed; /* SUBACK seen */
  bool sub_refused;
  /* The mid and seq of the frame in flight, and what came back. */
  int inflight_mid;
  long long inflight_seq;
  bool inflight_acked;
  long long rejected_seq[MAX_REJECTS];
  char rejected_code[MAX_REJECTS][64];
  int nrejects;
} st = {.connack = -1, .inflight_mid = -1};

static void on_connect(struct mosquitto *m, void *u, int rc) {
  (void)m;
  (void)u;
  st.connack = rc;
}

static void on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *granted) {
  (void)m;
  (void)u;
  (void)mid;
  for (int i = 0; i < n; i++)
    if (granted[i] > 1) st.sub_refused = true;
  st.subscribed = true;
}

static void print_seq(long long seq) {
  if (seq == SEQ_NULL) printf("null");
  else printf("%lld", seq);
}

static void on_publish(struct mosquitto *m, void *u, int mid) {
  (void)m;
  (void)u;
  if (mid != st.inflight_mid) return;
  st.inflight_acked = true;
  printf("{\"kind\":\"puback\",\"topic\":\"%s\",\"seq\":", st.frames);
  print_seq(st.inflight_seq);
  printf("}\n");
  fflush(stdout);
}

/* The value of "seq" in a gateway report: a number, or null (SEQ_NULL); -2 if absent. */
static long long report_seq(const char *json) {
  const char *p = strstr(json, "\"seq\":");
  if (!p) return -2;
  p += 6;
  while (*p == ' ') p++;
  if (strncmp(p, "null", 4) == 0) return SEQ_NULL;
  return strtoll(p, NULL, 10);
}

/* The value of "code" (a snake_case name, PROTOCOL.md §1) into out; "" if absent. */
static void report_code(const char *json, char *out, size_t cap) {
  out[0] = '\0';
  const char *p = strstr(json, "\"code\":\"");
  if (!p) return;
  p += 8;
  size_t i = 0;
  while (i + 1 < cap && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) out[i++] = *p++;
  out[i] = '\0';
}

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg) {
  (void)m;
  (void)u;
  char json[1024];
  size_t n = (size_t)msg->payloadlen < sizeof json - 1 ? (size_t)msg->payloadlen : sizeof json - 1;
  memcpy(json, msg->payload, n);
  json[n] = '\0';
  long long seq = report_seq(json);
  if (strcmp(msg->topic, st.rejects) == 0) {
    char code[64];
    report_code(json, code, sizeof code);
    if (st.nrejects < MAX_REJECTS) {
      st.rejected_seq[st.nrejects] = seq;
      strcpy(st.rejected_code[st.nrejects], code);
      st.nrejects++;
    }
    printf("{\"kind\":\"reject\",\"topic\":\"%s\",\"seq\":", msg->topic);
    print_seq(seq);
    printf(",\"code\":\"%s\"}\n", code);
  } else if (strcmp(msg->topic, st.acks) == 0) {
    printf("{\"kind\":\"ack\",\"topic\":\"%s\",\"seq\":", msg->topic);
    print_seq(seq);
    printf("}\n");
  }
  fflush(stdout);
}

static bool rejected(long long seq) {
  for (int i = 0; i < st.nrejects; i++)
    if (st.rejected_seq[i] == seq) return true;
  return false;
}

/* Runs the network loop until cond() holds or the timeout passes. */
static bool pump(struct mosquitto *m, bool (*cond)(void), double timeout_s) {
  uint64_t end = now_ms() + (uint64_t)(timeout_s * 1000);
  while (!cond()) {
    if (now_ms() > end) return false;
    int rc = mosquitto_loop(m, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS) return false;
  }
  return true;
}

static bool c_connected(void) { return st.connack >= 0; }
static bool c_subscribed(void) { return st.subscribed; }
static bool c_acked(void) { return st.inflight_acked; }
static long long bad_seq;
static bool c_bad_done(void) { return st.inflight_acked && rejected(bad_seq); }

static bool publish(struct mosquitto *m, const unsigned char *frame, size_t len, long long seq) {
  st.inflight_acked = false;
  st.inflight_seq = seq;
  return mosquitto_publish(m, &st.inflight_mid, st.frames, (int)len, frame, 1, false) == MOSQ_ERR_SUCCESS;
}

static void print_hex(const char *name, const unsigned char *p, size_t n, const char *sep) {
  printf("\"%s\":\"", name);
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
  printf("\"%s", sep);
}

/* --dump-ts: the parts of frame seq 1 ({hr: 72, spo2: 98}, prev zero) at that ts, as hex JSON,
   to compare with es256-first of the kit's frames.json (the signature differs: not RFC 6979). */
static int dump_first_frame(EVP_PKEY *key, const char *dev, uint64_t ts) {
  unsigned char zero[32] = {0};
  struct obs o = {.hr = 72, .spo2 = 98};
  struct buf frame;
  if (!sign_frame(key, dev, 1, ts, zero, &o, &frame)) return 1;
  printf("{");
  print_hex("body_cbor", body.b, body.n, ",");
  print_hex("protected_header", prot.b, prot.n, ",");
  print_hex("sig_structure", tbs.b, tbs.n, ",");
  print_hex("frame", frame.b, frame.n, "}\n");
  return 0;
}

static int finish(const char *error) {
  if (error) printf("{\"kind\":\"done\",\"ok\":false,\"error\":\"%s\"}\n", error);
  else printf("{\"kind\":\"done\",\"ok\":true,\"error\":null}\n");
  fflush(stdout);
  return error ? 1 : 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: vt_device --host H --port P --ca ROOT.pem --cert DEV.cert.pem --key DEV.key.pem\n"
          "                 --dev ID [--frames N] [--bad signature|malformed|none] [--timeout S]\n"
          "       vt_device --key KEY.pem --dev ID --dump-ts TS\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1", *ca = NULL, *cert = NULL, *keyfile = NULL, *dev = NULL, *bad = "signature";
  int port = 8883, frames = 5;
  double timeout = 15;
  static const struct option opts[] = {
      {"host", required_argument, 0, 'h'}, {"port", required_argument, 0, 'p'},
      {"ca", required_argument, 0, 'a'},   {"cert", required_argument, 0, 'c'},
      {"key", required_argument, 0, 'k'},  {"dev", required_argument, 0, 'd'},
      {"frames", required_argument, 0, 'n'}, {"bad", required_argument, 0, 'b'},
      {"timeout", required_argument, 0, 't'}, {"dump-ts", required_argument, 0, 'D'},
      {0, 0, 0, 0}};
  const char *dump_ts = NULL;
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    switch (c) {
      case 'h': host = optarg; break;
      case 'p': port = atoi(optarg); break;
      case 'a': ca = optarg; break;
      case 'c': cert = optarg; break;
      case 'k': keyfile = optarg; break;
      case 'd': dev = optarg; break;
      case 'n': frames = atoi(optarg); break;
      case 'b': bad = optarg; break;
      case 't': timeout = atof(optarg); break;
      case 'D': dump_ts = optarg; break;
      default: usage();
    }
  }
  if (dump_ts && keyfile && dev) {
    FILE *f = fopen(keyfile, "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    return k ? dump_first_frame(k, dev, strtoull(dump_ts, NULL, 10)) : 1;
  }
  if (!ca || !cert || !keyfile || !dev || strlen(dev) > 64 || frames < 0) usage();
  const char *expect_code = strcmp(bad, "signature") == 0   ? "bad_signature"
                            : strcmp(bad, "malformed") == 0 ? "malformed"
                            : strcmp(bad, "none") == 0      ? NULL
                                                            : (usage(), NULL);

  FILE *kf = fopen(keyfile, "r");
  EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
  if (kf) fclose(kf);
  if (!key) return finish("cannot read the device key");

  snprintf(st.frames, sizeof st.frames, "vt/v1/dev/%s/frames", dev);
  snprintf(st.rejects, sizeof st.rejects, "vt/v1/dev/%s/rejects", dev);
  snprintf(st.acks, sizeof st.acks, "vt/v1/dev/%s/acks", dev);

  mosquitto_lib_init();
  /* Client id = certificate CN = device id (PROTOCOL.md §2); clean session. */
  struct mosquitto *m = mosquitto_new(dev, true, NULL);
  if (!m) return finish("mosquitto_new failed");
  mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(m, on_connect);
  mosquitto_subscribe_callback_set(m, on_subscribe);
  mosquitto_publish_callback_set(m, on_publish);
  mosquitto_message_callback_set(m, on_message);
  /* Mutual TLS: trust the KGC root for the gateway, present the device certificate (§6).
     libmosquitto checks the gateway's host name (its certificate names 127.0.0.1). */
  if (mosquitto_tls_set(m, ca, NULL, cert, keyfile, NULL) != MOSQ_ERR_SUCCESS) return finish("mosquitto_tls_set failed");
  if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS) return finish("connect failed");
  if (!pump(m, c_connected, timeout) || st.connack != 0) return finish("no CONNACK 0");
  printf("{\"kind\":\"connected\",\"dev\":\"%s\"}\n", dev);
  fflush(stdout);

  /* Subscribe before publishing: reports are not retained (QoS 1, PROTOCOL.md §2). */
  char *subs[2] = {st.rejects, st.acks};
  if (mosquitto_subscribe_multiple(m, NULL, 2, subs, 1, 0, NULL) != MOSQ_ERR_SUCCESS ||
      !pump(m, c_subscribed, timeout) || st.sub_refused)
    return finish("subscribe failed");

  /* The chain: seq from 1, prev = SHA-256 of the previous frame (32 zeros at seq 1). A real
     device keeps (seq, prev) in non-volatile memory across restarts. */
  unsigned char prev[32] = {0};
  uint64_t seq = 0;
  struct buf frame;
  for (int i = 0; i < frames; i++) {
    struct obs o = {.hr = 60u + (unsigned)(i % 40), .spo2 = 97, .temp = 3690, .has_temp = true};
    if (!sign_frame(key, dev, seq + 1, now_ms(), prev, &o, &frame)) return finish("signing failed");
    /* One frame in flight: the next is sent once this one is durable (PUBACK). */
    if (!publish(m, frame.b, frame.n, (long long)(seq + 1)) || !pump(m, c_acked, timeout))
      return finish("no PUBACK for a good frame");
    seq++;
    sha256(frame.b, frame.n, prev);
  }

  if (expect_code) {
    if (strcmp(bad, "signature") == 0) {
      /* The next frame with one signature byte flipped; the chain does not advance. */
      struct obs o = {.hr = 61, .spo2 = 97, .temp = 3690, .has_temp = true};
      if (!sign_frame(key, dev, seq + 1, now_ms(), prev, &o, &frame)) return finish("signing failed");
      frame.b[frame.n - 1] ^= 0x01;
      bad_seq = (long long)(seq + 1);
    } else {
      static const char garbage[] = "not a COSE_Sign1 frame";
      memset(&frame, 0, sizeof frame);
      put_raw(&frame, garbage, sizeof garbage - 1);
      bad_seq = SEQ_NULL; /* unparsable: the reject carries "seq": null (PROTOCOL.md §6) */
    }
    /* A rejected frame is still PUBACKed; the verdict comes on /rejects (§6). */
    if (!publish(m, frame.b, frame.n, bad_seq) || !pump(m, c_bad_done, timeout))
      return finish("no PUBACK and reject for the bad frame");
  }
  for (uint64_t s = 1; s <= seq; s++)
    if (rejected((long long)s)) return finish("a good frame was rejected");
  if (expect_code) {
    bool found = false;
    for (int i = 0; i < st.nrejects; i++)
      if (st.rejected_seq[i] == bad_seq && strcmp(st.rejected_code[i], expect_code) == 0) found = true;
    if (!found) return finish("the bad frame was rejected with another code");
  }
  mosquitto_disconnect(m);
  mosquitto_loop(m, 100, 1);
  mosquitto_destroy(m);
  mosquitto_lib_cleanup();
  EVP_PKEY_free(key);
  return finish(NULL);
}
