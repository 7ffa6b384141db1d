#ifndef GATEWAYD_CPCAP_SHIM_H
#define GATEWAYD_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
