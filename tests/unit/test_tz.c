/* Time zones and send windows: offsets from tzdata, DST-correct. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "herald/tz.h"

/* 2025-03-30T01:00:00Z: Europe switches to summer time. */
#define SPRING_2025 ((time_t)1743296400)
/* 2025-10-26T01:00:00Z: back to winter time. */
#define AUTUMN_2025 ((time_t)1761440400)
#define JAN_1_2025 ((time_t)1735689600)

static struct hd_tzset *build(void)
{
    const char *names[] = {"Europe/Berlin", "Europe/London", "Asia/Tokyo", "UTC",
                           "America/New_York"};
    struct hd_tzset *s = hd_tzset_build(names, 5, JAN_1_2025, JAN_1_2025 + 366 * 86400);
    assert_non_null(s);
    return s;
}

static int off(const struct hd_tzset *s, const char *zone, time_t t)
{
    return hd_tzset_offset(s, zone, strlen(zone), t);
}

static void test_tz_offsets_follow_dst(void **state)
{
    struct hd_tzset *s = build();
    (void)state;
    assert_int_equal(off(s, "Europe/Berlin", SPRING_2025 - 1), 3600);
    assert_int_equal(off(s, "Europe/Berlin", SPRING_2025), 7200);
    assert_int_equal(off(s, "Europe/Berlin", AUTUMN_2025 - 1), 7200);
    assert_int_equal(off(s, "Europe/Berlin", AUTUMN_2025), 3600);
    assert_int_equal(off(s, "Europe/London", SPRING_2025 + 60), 3600);
    assert_int_equal(off(s, "Europe/London", JAN_1_2025), 0);
    assert_int_equal(off(s, "Asia/Tokyo", SPRING_2025), 9 * 3600);
    assert_int_equal(off(s, "America/New_York", JAN_1_2025), -5 * 3600);
    assert_int_equal(off(s, "UTC", AUTUMN_2025), 0);
    assert_int_equal(off(s, "Mars/Olympus", AUTUMN_2025), 0); /* unknown: UTC */
    hd_tzset_free(s);
}

static void test_tz_build_leaves_tz_env_alone(void **state)
{
    (void)state;
    setenv("TZ", "Asia/Tokyo", 1);
    hd_tzset_free(build());
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
    hd_tzset_free(build());
    assert_null(getenv("TZ"));
}

static void test_tz_window_inside_returns_now(void **state)
{
    struct hd_tzset *s = build();
    (void)state;
    /* 2025-01-01 10:00 UTC = 11:00 in Berlin: inside 09:00-20:00. */
    time_t t = JAN_1_2025 + 10 * 3600;
    assert_int_equal(hd_window_next_open(s, "Europe/Berlin", 13, t, 9 * 60, 20 * 60), t);
    /* start == end: always open */
    assert_int_equal(hd_window_next_open(s, "Asia/Tokyo", 10, t, 0, 0), t);
    hd_tzset_free(s);
}

static void test_tz_window_defers_to_local_start(void **state)
{
    struct hd_tzset *s = build();
    (void)state;
    /* 2025-01-01 21:00 UTC = 22:00 Berlin: next opening 2025-01-02 09:00
     * Berlin = 08:00 UTC. */
    time_t t = JAN_1_2025 + 21 * 3600;
    assert_int_equal(hd_window_next_open(s, "Europe/Berlin", 13, t, 9 * 60, 20 * 60),
                     JAN_1_2025 + 86400 + 8 * 3600);
    /* 2025-01-01 05:00 UTC = 14:00 Tokyo, window 18:00-22:00 opens 09:00 UTC. */
    t = JAN_1_2025 + 5 * 3600;
    assert_int_equal(hd_window_next_open(s, "Asia/Tokyo", 10, t, 18 * 60, 22 * 60),
                     JAN_1_2025 + 9 * 3600);
    hd_tzset_free(s);
}

static void test_tz_window_across_dst_change(void **state)
{
    struct hd_tzset *s = build();
    (void)state;
    /* Saturday 2025-03-29 21:00 UTC = 22:00 CET. The window opens Sunday
     * 09:00 local, which is CEST by then: 07:00 UTC, not 08:00. */
    time_t t = SPRING_2025 - 4 * 3600;
    assert_int_equal(hd_window_next_open(s, "Europe/Berlin", 13, t, 9 * 60, 20 * 60),
                     SPRING_2025 + 6 * 3600);
    hd_tzset_free(s);
}

static void test_tz_window_over_midnight(void **state)
{
    struct hd_tzset *s = build();
    (void)state;
    /* 22:00-06:00 in UTC: 23:30 is inside, 12:00 waits for 22:00. */
    time_t t = JAN_1_2025 + 23 * 3600 + 1800;
    assert_int_equal(hd_window_next_open(s, "UTC", 3, t, 22 * 60, 6 * 60), t);
    t = JAN_1_2025 + 12 * 3600;
    assert_int_equal(hd_window_next_open(s, "UTC", 3, t, 22 * 60, 6 * 60), JAN_1_2025 + 22 * 3600);
    hd_tzset_free(s);
}

static void test_tz_free_null(void **state)
{
    (void)state;
    hd_tzset_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tz_offsets_follow_dst),
        cmocka_unit_test(test_tz_build_leaves_tz_env_alone),
        cmocka_unit_test(test_tz_window_inside_returns_now),
        cmocka_unit_test(test_tz_window_defers_to_local_start),
        cmocka_unit_test(test_tz_window_across_dst_change),
        cmocka_unit_test(test_tz_window_over_midnight),
        cmocka_unit_test(test_tz_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
