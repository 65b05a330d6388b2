# fish completion for pqueued (pkit): pkit-complete answers from pqueued's grammar;
# where it has nothing to offer (a file argument), fish completes paths.
function __complete_pqueued
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    set -l words (command pkit-complete pqueued)
    if set -q words[1]
        printf '%s\n' $words
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c pqueued -f -a "(__complete_pqueued)"
