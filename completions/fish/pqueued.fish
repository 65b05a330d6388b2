# fish completion for pqueued (pkit): the binary answers via COMP_LINE.
function __complete_pqueued
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pqueued
end
complete -c pqueued -a "(__complete_pqueued)"
