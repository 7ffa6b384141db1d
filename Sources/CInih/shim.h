#ifndef GATEWAYD_CINIH_SHIM_H
#define GATEWAYD_CINIH_SHIM_H
#include <ini.h>
#endif
