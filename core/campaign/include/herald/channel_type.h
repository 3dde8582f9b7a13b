/* herald/channel_type.h - the kinds of channel a campaign has.
 *
 * Its own header because it is part of two contracts: the campaign model
 * (herald/campaign.h) and the channel module ABI (herald/channel.h, which
 * must not include the campaign). The values are fixed by the module ABI:
 * new kinds only ever get new numbers.
 */
#ifndef HERALD_CHANNEL_TYPE_H
#define HERALD_CHANNEL_TYPE_H

enum hd_channel_type { HD_CHANNEL_EMAIL = 0, HD_CHANNEL_PUSH = 1 };

#endif
