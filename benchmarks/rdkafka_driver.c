/*
 * A C load driver for the benchmarks: librdkafka without a Python interpreter in the loop,
 * so the broker, not the client, sets the pace.
 *
 *   rdkafka_driver produce BOOTSTRAP TOPIC SIZE COUNT ACKS
 *   rdkafka_driver consume BOOTSTRAP TOPIC SIZE COUNT
 *
 * produce: COUNT records of SIZE bytes to partition 0 of TOPIC (linger.ms=5,
 * batch.size=1 MiB, no compression, no idempotence: the Python workload's settings), timed
 * from the first produce() to the end of flush(); any delivery error fails the run.
 * consume: partition 0 read from offset 0 with assign() (no group protocol, no commits)
 * until COUNT records have arrived; each record's size and offset are checked.
 *
 * Prints one JSON line {"records": N, "bytes": B, "seconds": S} and exits 0, or prints an
 * error on stderr and exits 1. benchmarks/driver.py compiles it (cc, librdkafka headers).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define IDLE_TIMEOUT_S 30.0
#define FLUSH_TIMEOUT_MS 300000

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail) {
    fprintf(stderr, "rdkafka_driver: %s: %s\n", what, detail);
    exit(1);
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        die(key, err);
}

static long long delivery_errors = 0;
static char first_error[256] = "";

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    (void)opaque;
    if (msg->err) {
        if (delivery_errors++ == 0)
            snprintf(first_error, sizeof(first_error), "%s", rd_kafka_err2str(msg->err));
    }
}

static void report(long long records, long long bytes, double seconds) {
    printf("{\"records\": %lld, \"bytes\": %lld, \"seconds\": %.6f}\n", records, bytes, seconds);
}

static int produce(const char *bootstrap, const char *topic, size_t size, long long count,
                   const char *acks) {
    char err[512], buf[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "acks", acks);
    set(conf, "linger.ms", "5");
    set(conf, "batch.size", "1048576");
    set(conf, "compression.type", "none");
    set(conf, "enable.idempotence", "false");
    set(conf, "delivery.report.only.error", "true");
    set(conf, "log_level", "2");
    /* the queue holds the whole run, so produce() never waits on it */
    snprintf(buf, sizeof(buf), "%lld", count * 2 > 100000 ? count * 2 : 100000);
    set(conf, "queue.buffering.max.messages", buf);
    long long kbytes = count * ((long long)size + 100) / 1024 * 2;
    if (kbytes < 1048576)
        kbytes = 1048576;
    if (kbytes > 2147483647LL)
        kbytes = 2147483647LL;
    snprintf(buf, sizeof(buf), "%lld", kbytes);
    set(conf, "queue.buffering.max.kbytes", buf);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);

    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk)
        die("producer", err);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    char *value = malloc(size);
    memset(value, 'x', size);

    double t0 = now_s();
    for (long long i = 0; i < count;) {
        /* flags 0: librdkafka neither copies nor frees the (shared, constant) value */
        if (rd_kafka_produce(rkt, 0, 0, value, size, NULL, 0, NULL) == -1) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 5);
                continue;
            }
            die("produce", rd_kafka_err2str(e));
        }
        i++;
        if (i % 50000 == 0)
            rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t flushed = rd_kafka_flush(rk, FLUSH_TIMEOUT_MS);
    double elapsed = now_s() - t0;
    if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("flush", rd_kafka_err2str(flushed));
    if (delivery_errors) {
        snprintf(err, sizeof(err), "%lld delivery errors, first: %s", delivery_errors,
                 first_error);
        die("produce", err);
    }
    report(count, count * (long long)size, elapsed);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(value);
    return 0;
}

static int consume(const char *bootstrap, const char *topic, size_t size, long long count) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "group.id", "josef-bench-c");
    set(conf, "enable.auto.commit", "false");
    set(conf, "enable.auto.offset.store", "false");
    set(conf, "enable.partition.eof", "false");
    set(conf, "fetch.max.bytes", "52428800");
    set(conf, "max.partition.fetch.bytes", "10485760");
    set(conf, "receive.message.max.bytes", "104857600");
    set(conf, "queued.max.messages.kbytes", "1048576");
    /* see workloads.consumer_config: librdkafka's defaults pause fetching at 100k queued */
    set(conf, "queued.min.messages", "1000000");
    set(conf, "fetch.queue.backoff.ms", "0");
    set(conf, "fetch.wait.max.ms", "500");
    set(conf, "fetch.min.bytes", "1");
    set(conf, "log_level", "2");

    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        die("consumer", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = 0;

    double t0 = now_s();
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
    if (e)
        die("assign", rd_kafka_err2str(e));
    long long got = 0, nbytes = 0;
    double last_progress = t0;
    while (got < count) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) {
            if (now_s() - last_progress > IDLE_TIMEOUT_S) {
                snprintf(err, sizeof(err), "stalled at %lld/%lld records", got, count);
                die("consume", err);
            }
            continue;
        }
        if (m->err) {
            snprintf(err, sizeof(err), "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            die("consume", err);
        }
        if (m->offset != got || m->len != size) {
            snprintf(err, sizeof(err),
                     "unexpected record at offset %" PRId64 " (expected %lld, %zu bytes, got %zu)",
                     m->offset, got, size, m->len);
            rd_kafka_message_destroy(m);
            die("consume", err);
        }
        got++;
        nbytes += (long long)m->len;
        last_progress = now_s();
        rd_kafka_message_destroy(m);
    }
    double elapsed = now_s() - t0;
    report(got, nbytes, elapsed);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 6 && strcmp(argv[1], "consume") == 0)
        return consume(argv[2], argv[3], (size_t)atol(argv[4]), atoll(argv[5]));
    if (argc >= 7 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], (size_t)atol(argv[4]), atoll(argv[5]), argv[6]);
    fprintf(stderr,
            "usage: %s produce BOOTSTRAP TOPIC SIZE COUNT ACKS\n"
            "       %s consume BOOTSTRAP TOPIC SIZE COUNT\n",
            argv[0], argv[0]);
    return 2;
}
