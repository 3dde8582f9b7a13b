/* channels/smtp/smtp_queue.c - the smtp module's queue between send() and
 * the workers' sessions (smtp_chan.h): taking a share of it, an open
 * session waiting for more, settling reported jobs. Everything here runs
 * under ch->lock. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "smtp_chan.h"

void smtp_job_free(struct smtp_job *j)
{
    if (j) {
        free(j->signed_body);
        free(j);
    }
}

void smtp_settled(struct smtp_chan *ch, size_t n)
{
    pthread_mutex_lock(&ch->lock);
    ch->outstanding -= n;
    if (ch->outstanding == 0)
        pthread_cond_broadcast(&ch->drained);
    pthread_mutex_unlock(&ch->lock);
}

size_t smtp_take_jobs(struct smtp_chan *ch, struct smtp_job **out, size_t max, unsigned waiting)
{
    size_t share = (ch->queued + waiting) / (waiting + 1), n = 0;
    if (share < 1)
        share = 1;
    if (share > max)
        share = max;
    while (n < share && ch->head) {
        out[n] = ch->head;
        ch->head = ch->head->next;
        out[n]->next = NULL;
        if (ch->head == NULL)
            ch->tail = NULL;
        ch->queued--;
        n++;
    }
    pthread_cond_broadcast(&ch->room);
    return n;
}

size_t smtp_take_more(struct smtp_chan *ch, struct smtp_job **out, size_t max)
{
    struct timespec until;
    size_t n = 0;
    if (max == 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ch->idle_ms / 1000;
    until.tv_nsec += (ch->idle_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ch->lock);
    ch->lingering++;
    while (ch->head == NULL && !ch->closing)
        if (pthread_cond_timedwait(&ch->work, &ch->lock, &until) == ETIMEDOUT)
            break;
    ch->lingering--;
    /* a fair share: the workers waiting to open sessions count too, so a
     * burst still goes out over several connections */
    if (ch->head && !ch->closing)
        n = smtp_take_jobs(ch, out, max, ch->lingering + ch->idle);
    /* the workers waiting for a new session look again (queue, lingering) */
    pthread_cond_broadcast(&ch->work);
    pthread_mutex_unlock(&ch->lock);
    return n;
}
