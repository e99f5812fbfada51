/*
 * version.h — the version of ledgerd and its programs, one for all of them
 * (every program's --version prints it).
 */
#ifndef LD_VERSION_H
#define LD_VERSION_H

#define LD_VERSION "0.1.0"

#endif
