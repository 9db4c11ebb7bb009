# install.cmake - the install steps that depend on the prefix chosen at
# install time (cmake --install build --prefix P): the systemd unit names
# P/sbin/spated and the configuration file, and the configuration file is
# installed only where none exists yet (an operator's file is never replaced).
# Run by install(SCRIPT) with SPATE_SRC and SPATE_BIN set; DESTDIR is honoured.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(etc "/etc")
else()
    set(etc "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(SPATE_SBINDIR "${CMAKE_INSTALL_PREFIX}/sbin")
set(SPATE_CONFIG "${etc}/spate/spated.conf")

set(unit "${SPATE_BIN}/spated.service")
configure_file("${SPATE_SRC}/contrib/systemd/spated.service.in" "${unit}" @ONLY)
file(INSTALL "${unit}" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")

if(EXISTS "$ENV{DESTDIR}${SPATE_CONFIG}")
    message(STATUS "Keeping: $ENV{DESTDIR}${SPATE_CONFIG}")
else()
    file(INSTALL "${SPATE_SRC}/contrib/spated.conf.example" DESTINATION "${etc}/spate"
        RENAME spated.conf PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
endif()
