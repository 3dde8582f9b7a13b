/* core/channel_view.c - what a channel module sees of its channel and of the
 * campaign (herald/channel_registry.h): the dispatcher builds it for
 * create(), the registry for check(). */
#include "herald/channel_registry.h"

#include <string.h>

void hd_channel_view_init(struct hd_channel_view *view, const struct hd_campaign *c,
                          const struct hd_channel_conf *conf)
{
    memset(view, 0, sizeof *view);
    view->abi = HD_CHANNEL_ABI;
    view->size = sizeof *view;
    view->name = conf->name;
    view->module = conf->module;
    view->type = conf->type;
    view->campaign_file = c->path;
    view->line = conf->line;
    view->col = conf->col;
    view->campaign_dir = c->dir;
    view->settings = conf->settings;
    view->from_addr = conf->from_addr;
}
